package redirect

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"image/png"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/makiuchi-d/gozxing"
	gozxingqr "github.com/makiuchi-d/gozxing/qrcode"
)

// decodeQR reads the text and error correction level of a QR code in a PNG.
func decodeQR(t testing.TB, body []byte) (text, level string) {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("png.Decode: %v", err)
	}
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		t.Fatalf("NewBinaryBitmapFromImage: %v", err)
	}
	res, err := gozxingqr.NewQRCodeReader().Decode(bmp, nil)
	if err != nil {
		// gozxing's finder-pattern detector misjudges some sparse codes (version 3 at level L) that
		// zbarimg reads; the image is a pure code, so the reader may skip the detector.
		var perr error
		res, perr = gozxingqr.NewQRCodeReader().Decode(bmp, map[gozxing.DecodeHintType]any{gozxing.DecodeHintType_PURE_BARCODE: true})
		if perr != nil {
			t.Fatalf("decode QR code: %v; as a pure code: %v", err, perr)
		}
	}
	level, _ = res.GetResultMetadata()[gozxing.ResultMetadataType_ERROR_CORRECTION_LEVEL].(string)
	return res.GetText(), level
}

func TestQRPNG(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	id := e.create(fmt.Sprintf(`{"url":%q,"slug":"poster-2026"}`, product(200)), http.StatusCreated).ID
	want := testBase + "/" + id + "?qr"
	tests := []struct {
		name, query string
		size        int // the image's width and height
		level       string
	}{
		{"default", "", 512, "M"},
		{"smallest", "size=64", 64, "M"},
		{"largest", "size=2048", 2048, "M"},
		{"quartile", "ecc=Q", 512, "Q"},
		{"high lower case", "ecc=h&size=300", 300, "H"},
		{"low", "ecc=L", 512, "L"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := "/" + id + "/qr.png?" + tc.query
			r := e.get(path)
			if r.status != http.StatusOK || r.header.Get("Content-Type") != "image/png" {
				t.Fatalf("GET %s = %d %q, want 200 image/png", path, r.status, r.header.Get("Content-Type"))
			}
			img, err := png.DecodeConfig(bytes.NewReader(r.body))
			if err != nil || img.Width != tc.size || img.Height != tc.size {
				t.Errorf("GET %s: image %dx%d (%v), want %dx%d", path, img.Width, img.Height, err, tc.size, tc.size)
			}
			text, level := decodeQR(t, r.body)
			if text != want || level != tc.level {
				t.Errorf("GET %s decodes to %q at level %q, want %q at %q", path, text, level, want, tc.level)
			}
		})
	}
	for _, q := range []string{"size=10", "size=63", "size=2049", "size=5000", "size=abc", "size=-512", "ecc=Z", "ecc=MM"} {
		r := e.get("/" + id + "/qr.png?" + q)
		if r.status != http.StatusBadRequest {
			t.Errorf("GET /%s/qr.png?%s = %s, want 400", id, q, r)
		}
	}
	if r := e.get("/" + id + "/qr.svg?ecc=Z"); r.status != http.StatusBadRequest {
		t.Errorf("GET /%s/qr.svg?ecc=Z = %s, want 400", id, r)
	}
	r := e.request(http.MethodHead, "/"+id+"/qr.png", nil)
	if r.status != http.StatusOK || r.header.Get("Content-Type") != "image/png" {
		t.Errorf("HEAD /%s/qr.png = %s, want 200 image/png", id, r)
	}
}

func TestQRSVG(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	id := e.create(fmt.Sprintf(`{"url":%q}`, product(201)), http.StatusCreated).ID
	for _, q := range []string{"", "?ecc=Q", "?ecc=H"} {
		r := e.get("/" + id + "/qr.svg" + q)
		if r.status != http.StatusOK || r.header.Get("Content-Type") != "image/svg+xml" {
			t.Fatalf("GET /%s/qr.svg%s = %d %q, want 200 image/svg+xml", id, q, r.status, r.header.Get("Content-Type"))
		}
		dec := xml.NewDecoder(bytes.NewReader(r.body))
		var root string
		for {
			tok, err := dec.Token()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("GET /%s/qr.svg%s: not well-formed XML: %v", id, q, err)
			}
			if se, ok := tok.(xml.StartElement); ok && root == "" {
				root = se.Name.Local
			}
		}
		if root != "svg" {
			t.Errorf("GET /%s/qr.svg%s: root element %q, want svg", id, q, root)
		}
	}
}

func TestQRUnknownID(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	deleted := e.create(fmt.Sprintf(`{"url":%q,"slug":"was-here"}`, product(202)), http.StatusCreated).ID
	if r := e.api(http.MethodDelete, "/api/links/"+deleted, ""); r.status != http.StatusNoContent {
		t.Fatalf("DELETE = %s, want 204", r)
	}
	for _, id := range []string{"no-such-link", "Abcdefgh", deleted} {
		for _, f := range []string{"qr.png", "qr.svg"} {
			if r := e.get("/" + id + "/" + f); r.status != http.StatusNotFound {
				t.Errorf("GET /%s/%s = %s, want 404", id, f, r)
			}
		}
	}
	// A product code needs no record: its QR code is served from the id alone.
	code := mustProductCode(t, productID(203))
	r := e.get("/" + code + "/qr.png")
	if r.status != http.StatusOK {
		t.Fatalf("GET /%s/qr.png = %s, want 200", code, r)
	}
	if text, _ := decodeQR(t, r.body); text != testBase+"/"+code+"?qr" {
		t.Errorf("QR code of %s decodes to %q, want %q", code, text, testBase+"/"+code+"?qr")
	}
}

func TestClicksCounted(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	id := e.create(fmt.Sprintf(`{"url":%q}`, product(204)), http.StatusCreated).ID
	visits := []struct {
		method, query, ua string
		counted, scan     bool
	}{
		{http.MethodGet, "", chromeUA, true, false},
		{http.MethodGet, "", chromeUA, true, false},
		{http.MethodGet, "utm_source=blog", chromeUA, true, false},
		{http.MethodGet, "qr", chromeUA, true, true},
		{http.MethodGet, "qr=", chromeUA, true, true},
		{http.MethodGet, "x=1&qr", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1", true, true},
		{http.MethodHead, "", chromeUA, false, false},
		{http.MethodHead, "qr", chromeUA, false, false},
		{http.MethodGet, "", googleUA, false, false},
		{http.MethodGet, "qr", googleUA, false, false},
		{http.MethodGet, "", facebook, false, false},
		{http.MethodGet, "", "Twitterbot/1.0", false, false},
		{http.MethodGet, "", "WhatsApp/2.23.20.0 A", false, false},
		{http.MethodGet, "", curlUA, false, false},
		{http.MethodGet, "", "Go-http-client/1.1", false, false},
		{http.MethodGet, "", " ", false, false},
		// Longer than any browser's: a bot at once, without the cost of looking through it (issue 13, item 1).
		{http.MethodGet, "", chromeUA + strings.Repeat(" Extra/1.0", 90), false, false},
	}
	var clicks, scans int64
	for i, v := range visits {
		path := "/" + id
		if v.query != "" {
			path += "?" + v.query
		}
		// Each from an address of its own: one visitor's repeated clicks count once (TestVisitorCountedOncePerWindow).
		r := e.request(v.method, path, nil, "User-Agent", v.ua, "X-Forwarded-For", fmt.Sprintf("198.51.100.%d", i+1))
		checkRedirect(t, fmt.Sprintf("%s %s as %.30q", v.method, path, v.ua), r, e.platform.Link(product(204)))
		if v.counted {
			clicks++
		}
		if v.counted && v.scan {
			scans++
		}
	}
	waitFor(t, "the clicks to be written", func() bool { return e.counter.Pending() == 0 })

	r := e.api(http.MethodGet, "/api/links/"+id, "")
	var l linkReply
	decode(t, r, &l)
	if l.Clicks == nil || l.Scans == nil || *l.Clicks != clicks || *l.Scans != scans {
		t.Fatalf("GET /api/links/%s = %s, want clicks %d and scans %d", id, r, clicks, scans)
	}
	if len(l.Daily) != 30 {
		t.Fatalf("daily has %d days, want 30", len(l.Daily))
	}
	today := e.clock.Now().UTC().Format("2006-01-02")
	if last := l.Daily[29]; last.Date != today {
		t.Errorf("daily's last day is %q, want today %q", last.Date, today)
	}
	var dailyClicks, dailyScans int64
	for i, d := range l.Daily {
		dailyClicks += d.Clicks
		dailyScans += d.Scans
		if i > 0 && d.Date <= l.Daily[i-1].Date {
			t.Errorf("daily[%d] %q is not after daily[%d] %q", i, d.Date, i-1, l.Daily[i-1].Date)
		}
	}
	if dailyClicks != clicks || dailyScans != scans {
		t.Errorf("daily counts sum to %d clicks and %d scans, want %d and %d", dailyClicks, dailyScans, clicks, scans)
	}

	// The list shows the totals without the days.
	var list struct {
		Links []linkReply `json:"links"`
		Total int         `json:"total"`
	}
	decode(t, e.api(http.MethodGet, "/api/links", ""), &list)
	if len(list.Links) != 1 || list.Total != 1 || *list.Links[0].Clicks != clicks || list.Links[0].Daily != nil {
		t.Errorf("GET /api/links = %+v, want one link with %d clicks and no daily", list.Links, clicks)
	}
}

func TestUnknownLinkPage(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	r := e.get("/no-such-link")
	if r.status != http.StatusNotFound || !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /no-such-link = %s, want a 404 page", r)
	}
	if r.header.Get("Location") != "" || r.header.Get("Content-Security-Policy") == "" {
		t.Errorf("GET /no-such-link headers %v, want no Location and a Content-Security-Policy", r.header)
	}
	if got := e.platform.Calls(); got != 0 {
		t.Errorf("platform calls for an unknown link = %d, want 0", got)
	}
}
