package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"image"
	"image/color"
	"image/png"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/chromedp"
)

// apiJSON sends an admin API request and decodes its JSON answer into out (when not nil).
func (s consoleService) apiJSON(t *testing.T, method, path, body string, out any) int {
	t.Helper()
	req, err := http.NewRequest(method, s.base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+s.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: decode %s: %v", method, path, b, err)
		}
	}
	return resp.StatusCode
}

// fakeImage is a small square PNG whose colour depends on the URL: what the test answers for
// AliExpress's image hosts, which it does not reach.
func fakeImage(url string) []byte {
	h := fnv.New32a()
	h.Write([]byte(url))
	v := h.Sum32()
	img := image.NewRGBA(image.Rect(0, 0, 64, 64))
	c := color.RGBA{uint8(120 + v%120), uint8(80 + (v>>8)%140), uint8(60 + (v>>16)%160), 255}
	for y := range 64 {
		for x := range 64 {
			img.Set(x, y, c)
		}
	}
	var b bytes.Buffer
	_ = png.Encode(&b, img)
	return b.Bytes()
}

// TestBioPageInBrowser drives the page editor in headless Chromium: it builds a page of two
// products and a heading (adding, reordering and removing items, with the preview following),
// is refused a handle taken in another case, then opens /@handle as a phone, clicks an item, and
// sees the click counted with source bio and the view counted. It saves docs/bio.png when missing
// (or when UPDATE_BIO_SCREENSHOT is set).
func TestBioPageInBrowser(t *testing.T) {
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("the bio browser test needs Chromium at %s (%v): run `make test`, which installs it", chromiumPath, err)
	}
	svc := startConsoleService(t)
	// A person's browser: HeadlessChrome would be taken for a bot and not counted.
	bctx, events, shots := startBrowser(t, 1280, 1000, chromedp.UserAgent(browserUA))
	// The test reaches no network: AliExpress's images and pages are answered here.
	if err := chromedp.Listen(bctx, func(ev any) {
		p, ok := ev.(*fetch.EventRequestPaused)
		if !ok {
			return
		}
		go func() {
			params := fetch.FulfillRequestParams{RequestID: p.RequestID, ResponseCode: 200}
			if strings.Contains(p.Request.URL, "alicdn.com") {
				params.ResponseHeaders = []*fetch.HeaderEntry{{Name: "Content-Type", Value: "image/png"}}
				params.Body = fakeImage(p.Request.URL)
			} else {
				params.ResponseHeaders = []*fetch.HeaderEntry{{Name: "Content-Type", Value: "text/html"}}
				params.Body = []byte("<!doctype html><title>AliExpress (test)</title><p>AliExpress</p>")
			}
			_, _ = chromedp.Call(bctx, fetch.FulfillRequest, params)
		}()
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(bctx, fetch.Enable, fetch.EnableParams{Patterns: []*fetch.RequestPattern{
		{URLPattern: "*://*.alicdn.com/*"}, {URLPattern: "*://*.aliexpress.com/*"},
	}}); err != nil {
		t.Fatalf("intercept AliExpress's hosts: %v", err)
	}

	do := func(step string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(bctx, actions...); err != nil {
			t.Fatalf("%s: %v", step, err)
		}
	}
	waitJS := func(what, expr string) { t.Helper(); browserWaitJS(t, bctx, what, expr) }
	screenshot := func(name string) []byte { t.Helper(); return browserScreenshot(t, bctx, shots, name) }
	item := func(n int, sel string) chromedp.CSS {
		return chromedp.CSS(fmt.Sprintf("#page-items li:nth-child(%d) %s", n, sel))
	}

	const (
		productA = "https://www.aliexpress.com/item/1005001234567890.html"
		productB = "https://www.aliexpress.com/item/1005006543210987.html"
		productC = "https://www.aliexpress.com/item/1005004242424242.html"
	)
	do("sign in",
		chromedp.Navigate(svc.base+"/admin"),
		chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.SendKeys(chromedp.ID("token"), svc.token),
		chromedp.Click(chromedp.CSS("#login-form button[type=submit]")),
		chromedp.WaitVisible(chromedp.ID("page-form")),
	)
	do("fill in the page",
		chromedp.SendKeys(chromedp.ID("page-handle"), "Mia.Picks"),
		chromedp.SendKeys(chromedp.ID("page-title"), "Mia's picks"),
		chromedp.SendKeys(chromedp.ID("page-text"), "Desk and travel finds I use every day"),
		chromedp.Click(chromedp.ID("page-add-link")),
		chromedp.SendKeys(item(1, ".item-value"), productA),
		chromedp.SendKeys(item(1, ".item-caption"), "My desk lamp"),
		chromedp.Click(chromedp.ID("page-add-heading")),
		chromedp.SendKeys(item(2, ".item-value"), "Travel"),
		chromedp.Click(chromedp.ID("page-add-link")),
		chromedp.SendKeys(item(3, ".item-value"), productB),
		chromedp.Click(chromedp.ID("page-add-link")),
		chromedp.SendKeys(item(4, ".item-value"), productC),
	)
	do("remove the last item and move the heading to the top",
		chromedp.Click(item(4, "button.remove")),
		chromedp.Click(item(2, "button.up")),
	)
	waitJS("the preview in the new order",
		`[...document.querySelectorAll('#page-preview .pv-items > div')].map(e => e.className + ':' + e.textContent).join('|') === 'pv-h:Travel|pv-item:My desk lamp|pv-item:`+productB+`'`)
	do("save", chromedp.Click(chromedp.ID("page-save")), chromedp.WaitVisible(chromedp.ID("page-open")))
	screenshot("08-bio-editor.png")

	var page struct {
		Handle string `json:"handle"`
		Items  []struct {
			ID, Caption, Heading string
		} `json:"items"`
	}
	if st := svc.apiJSON(t, http.MethodGet, "/api/pages/mia.picks", "", &page); st != http.StatusOK {
		t.Fatalf("GET /api/pages/mia.picks = %d", st)
	}
	if page.Handle != "Mia.Picks" || len(page.Items) != 3 || page.Items[0].Heading != "Travel" || page.Items[1].Caption != "My desk lamp" || page.Items[1].ID == "" || page.Items[2].ID == "" {
		t.Fatalf("the saved page = %+v, want Mia.Picks: heading Travel, the lamp with its caption, product B", page)
	}
	idA := page.Items[1].ID

	// A handle taken in another case is refused, in words.
	do("a second page with the handle in another case",
		chromedp.SetValue(chromedp.ID("page-pick"), ""),
		chromedp.Evaluate[chromedp.Void](`document.getElementById('page-pick').dispatchEvent(new Event('change'))`),
		chromedp.WaitVisible(chromedp.CSS("#page-handle:not([readonly])")),
		chromedp.SendKeys(chromedp.ID("page-handle"), "mia.PICKS"),
		chromedp.SendKeys(chromedp.ID("page-title"), "Someone else"),
		chromedp.Click(chromedp.ID("page-save")),
		chromedp.WaitVisible(chromedp.ID("page-error")),
	)
	if got, _ := chromedp.Run(bctx, chromedp.Text(chromedp.ID("page-error"))); !strings.Contains(got, "taken") {
		t.Errorf("saving a handle taken in another case says %q, want it to say the handle is taken", got)
	}

	// The page, as a phone opens it.
	do("open the page as a phone",
		chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile),
		chromedp.Navigate(svc.base+"/@mia.picks"),
		chromedp.WaitVisible(chromedp.CSS("a.it")),
	)
	waitJS("the product pictures", `[...document.querySelectorAll('img')].every(i => i.complete && i.naturalWidth > 0)`)
	got, err := chromedp.Run(bctx, chromedp.Evaluate[[]string](`[document.querySelectorAll('script').length + '', document.querySelector('h2').textContent,
		[...document.querySelectorAll('a.it')].map(a => a.getAttribute('href')).join(' '), document.documentElement.scrollWidth + '']`))
	if err != nil || len(got) != 4 {
		t.Fatalf("read the page: %v %v", got, err)
	}
	if got[0] != "0" || got[1] != "Travel" || !strings.HasPrefix(got[2], "/"+idA+"?src=bio ") || got[3] != "390" {
		t.Errorf("the page as a phone: scripts %s, heading %q, items %q, width %s; want no script, Travel, /%s?src=bio first, 390 (no sideways scroll)", got[0], got[1], got[2], got[3], idA)
	}
	png := screenshot("09-bio-phone.png")
	docs := filepath.Join("..", "..", "docs", "bio.png")
	if _, err := os.Stat(docs); err != nil || os.Getenv("UPDATE_BIO_SCREENSHOT") != "" {
		if err := os.WriteFile(docs, png, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// A click on the lamp: counted as a click with source bio; the page view is counted too.
	do("click the lamp", chromedp.Click(chromedp.CSS(`a.it[href^="/`+idA+`?"]`)))
	// The click leaves the page for AliExpress (answered by the test): evaluating during the
	// navigation fails, so ask until the new page answers.
	for end := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		href, err := chromedp.Run(bctx, chromedp.Evaluate[string](`location.href`))
		if err == nil && strings.HasPrefix(href, "https://www.aliexpress.com/item/1005001234567890.html?") {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("after the click the browser is at %q (%v), want AliExpress's page of the lamp", href, err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		var l struct{ Clicks, Bio int64 }
		var p struct{ Views int64 }
		svc.apiJSON(t, http.MethodGet, "/api/links/"+idA, "", &l)
		svc.apiJSON(t, http.MethodGet, "/api/pages/mia.picks", "", &p)
		if l.Clicks == 1 && l.Bio == 1 && p.Views == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after one view and one click: link %s has %d clicks, %d from bio; the page %d views; want 1, 1, 1", idA, l.Clicks, l.Bio, p.Views)
		}
		time.Sleep(50 * time.Millisecond)
	}

	events.mu.Lock()
	defer events.mu.Unlock()
	for _, p := range events.problems {
		t.Errorf("the page reported: %s", p)
	}
}
