package redirect

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// The print kit's PDFs are checked as a printer would see them: pdftoppm (poppler-utils, installed by
// scripts/ensure-poppler.sh) rasterises each page, every code found on it is measured in millimetres
// and decoded with the same independent decoder as the PNG codes (decodeQR, gozxing), and pdftotext
// reads the printed text back.

// poppler returns the path of a poppler-utils tool, failing the test with how to get it.
func poppler(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s not found: the print kit's tests need poppler-utils; run scripts/ensure-poppler.sh (make test-deps)", name)
	}
	return p
}

// writePDF stores body in a temporary file and returns its path.
func writePDF(t testing.TB, body []byte) string {
	t.Helper()
	if !bytes.HasPrefix(body, []byte("%PDF-")) {
		t.Fatalf("not a PDF: %q", truncate(string(body), 100))
	}
	path := filepath.Join(t.TempDir(), "in.pdf")
	if err := os.WriteFile(path, body, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// rasterise returns the PDF's pages as grey images at dpi.
func rasterise(t testing.TB, body []byte, dpi int) []image.Image {
	t.Helper()
	in := writePDF(t, body)
	dir := t.TempDir()
	out, err := exec.Command(poppler(t, "pdftoppm"), "-r", strconv.Itoa(dpi), "-gray", "-png", in, filepath.Join(dir, "p")).CombinedOutput()
	if err != nil {
		t.Fatalf("pdftoppm: %v: %s", err, out)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "p-*.png"))
	page := func(f string) int {
		n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(filepath.Base(f), "p-"), ".png"))
		return n
	}
	sort.Slice(files, func(i, j int) bool { return page(files[i]) < page(files[j]) })
	imgs := make([]image.Image, len(files))
	for i, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if imgs[i], err = png.Decode(bytes.NewReader(b)); err != nil {
			t.Fatalf("page %d: %v", i+1, err)
		}
	}
	return imgs
}

// pdfText is the PDF's text as pdftotext reads it.
func pdfText(t testing.TB, body []byte) string {
	t.Helper()
	out, err := exec.Command(poppler(t, "pdftotext"), writePDF(t, body), "-").CombinedOutput()
	if err != nil {
		t.Fatalf("pdftotext: %v: %s", err, out)
	}
	return string(out)
}

var pageSizeRE = regexp.MustCompile(`Page size:\s+([0-9.]+) x ([0-9.]+) pts`)

// pdfPages is the PDF's page count and first page size in points, as pdfinfo reads them.
func pdfPages(t testing.TB, body []byte) (pages int, w, h float64) {
	t.Helper()
	out, err := exec.Command(poppler(t, "pdfinfo"), writePDF(t, body)).CombinedOutput()
	if err != nil {
		t.Fatalf("pdfinfo: %v: %s", err, out)
	}
	m := pageSizeRE.FindStringSubmatch(string(out))
	p := regexp.MustCompile(`Pages:\s+(\d+)`).FindStringSubmatch(string(out))
	if m == nil || p == nil {
		t.Fatalf("pdfinfo: no page size or count in %s", out)
	}
	pages, _ = strconv.Atoi(p[1])
	w, _ = strconv.ParseFloat(m[1], 64)
	h, _ = strconv.ParseFloat(m[2], 64)
	return pages, w, h
}

// printed is a code found on a page: its size in millimetres and what it says.
type printed struct {
	text          string
	wMM, hMM      float64
	page, x, y    int
	widthPx, hgPx int
}

// findCodes finds the codes on a page rasterised at dpi whose size is about sizeMM: runs of dark rows
// (gaps under two modules bridged) at least 80% that tall are rows of codes, and runs of dark columns
// within them at least 80% that wide are codes. Each is measured, cut out with a white margin and decoded.
func findCodes(t testing.TB, img image.Image, dpi int, sizeMM float64) []printed {
	t.Helper()
	b := img.Bounds()
	dark := func(x, y int) bool { g := color.GrayModel.Convert(img.At(x, y)).(color.Gray); return g.Y < 128 }
	px := func(mm float64) int { return int(mm * float64(dpi) / 25.4) }
	gap, least := px(sizeMM*0.06), px(sizeMM*0.8)
	runs := func(n int, on func(i int) bool) [][2]int {
		var out [][2]int
		start, last := -1, -1
		for i := range n {
			if !on(i) {
				continue
			}
			if start >= 0 && i-last > gap {
				out = append(out, [2]int{start, last})
				start = -1
			}
			if start < 0 {
				start = i
			}
			last = i
		}
		if start >= 0 {
			out = append(out, [2]int{start, last})
		}
		return out
	}
	var found []printed
	for _, band := range runs(b.Dy(), func(y int) bool {
		for x := range b.Dx() {
			if dark(x, y) {
				return true
			}
		}
		return false
	}) {
		if band[1]-band[0]+1 < least {
			continue // text
		}
		for _, col := range runs(b.Dx(), func(x int) bool {
			for y := band[0]; y <= band[1]; y++ {
				if dark(x, y) {
					return true
				}
			}
			return false
		}) {
			if col[1]-col[0]+1 < least {
				continue
			}
			top, bottom := -1, -1
			for y := band[0]; y <= band[1]; y++ {
				for x := col[0]; x <= col[1]; x++ {
					if dark(x, y) {
						if top < 0 {
							top = y
						}
						bottom = y
						break
					}
				}
			}
			w, h := col[1]-col[0]+1, bottom-top+1
			pad := w / 5
			crop := image.NewGray(image.Rect(0, 0, w+2*pad, h+2*pad))
			draw.Draw(crop, crop.Bounds(), image.White, image.Point{}, draw.Src)
			draw.Draw(crop, image.Rect(pad, pad, pad+w, pad+h), img, image.Pt(col[0], top), draw.Src)
			var buf bytes.Buffer
			if err := png.Encode(&buf, crop); err != nil {
				t.Fatal(err)
			}
			text, _ := decodeQR(t, buf.Bytes())
			found = append(found, printed{
				text: text, wMM: float64(w) * 25.4 / float64(dpi), hMM: float64(h) * 25.4 / float64(dpi),
				x: col[0], y: top, widthPx: w, hgPx: h,
			})
		}
	}
	return found
}

// checkSize fails unless the code measures sizeMM across and down, within what rasterising at dpi
// can blur (a pixel at each edge).
func checkSize(t testing.TB, what string, c printed, sizeMM float64, dpi int) {
	t.Helper()
	tol := 2*25.4/float64(dpi) + 0.1
	if math.Abs(c.wMM-sizeMM) > tol || math.Abs(c.hMM-sizeMM) > tol {
		t.Errorf("%s: code %q measures %.2f × %.2f mm, want %g mm ± %.2f", what, c.text, c.wMM, c.hMM, sizeMM, tol)
	}
}

const ptPerMM = 72 / 25.4

// GET /{id}/qr.pdf: one page of A4 (or Letter) with the code at the size asked, its short URL under it and,
// with title=1, the product's title.
func TestQRPDF(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{Health: true})
	e.setProduct(401, "Foldable Phone Stand Aluminium")
	id := e.createH(fmt.Sprintf(`{"url":%q}`, product(401)), http.StatusCreated).ID
	const dpi = 300
	tests := []struct {
		name, query string
		size        float64
		paperW      float64 // points
		title       bool
	}{
		{"default", "", 40, 210 * ptPerMM, false},
		{"smallest with title", "?size_mm=15&title=1", 15, 210 * ptPerMM, true},
		{"decimal", "?size_mm=27.5", 27.5, 210 * ptPerMM, false},
		{"largest on letter", "?size_mm=150&paper=letter&title=1", 150, 612, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e.get("/" + id + "/qr.pdf" + tc.query)
			if r.status != http.StatusOK || r.header.Get("Content-Type") != "application/pdf" {
				t.Fatalf("GET /%s/qr.pdf%s = %s, want 200 application/pdf", id, tc.query, r)
			}
			pages, w, _ := pdfPages(t, r.body)
			if pages != 1 || math.Abs(w-tc.paperW) > 0.5 {
				t.Errorf("pdfinfo: %d pages %.2f pt wide, want 1 page %.2f pt wide", pages, w, tc.paperW)
			}
			imgs := rasterise(t, r.body, dpi)
			codes := findCodes(t, imgs[0], dpi, tc.size)
			if len(codes) != 1 {
				t.Fatalf("found %d codes on the page, want 1", len(codes))
			}
			if want := testBase + "/" + id + "?qr"; codes[0].text != want {
				t.Errorf("code says %q, want %q", codes[0].text, want)
			}
			checkSize(t, tc.name, codes[0], tc.size, dpi)
			text := pdfText(t, r.body)
			if want := "go.example.test/" + id; !strings.Contains(text, want) {
				t.Errorf("text %q lacks the short URL %q", text, want)
			}
			if has := strings.Contains(strings.Join(strings.Fields(text), " "), "Foldable Phone Stand Aluminium"); has != tc.title {
				t.Errorf("text %q: has the title = %v, want %v", text, has, tc.title)
			}
		})
	}
	bad := []struct{ query, reason string }{
		{"?size_mm=14", "size_mm"}, {"?size_mm=151", "size_mm"}, {"?size_mm=abc", "size_mm"}, {"?size_mm=NaN", "size_mm"},
		{"?paper=a3", "paper"}, {"?title=yes", "title"},
	}
	for _, tc := range bad {
		if r := e.get("/" + id + "/qr.pdf" + tc.query); r.status != http.StatusBadRequest || !strings.Contains(string(r.body), tc.reason) {
			t.Errorf("GET /%s/qr.pdf%s = %s, want 400 about %s", id, tc.query, r, tc.reason)
		}
	}
	if r := e.get("/nosuchlink1/qr.pdf"); r.status != http.StatusNotFound {
		t.Errorf("GET /nosuchlink1/qr.pdf = %s, want 404", r)
	}
}

// POST /api/qr/sheet: every link's code on A4 or Letter pages, at the size asked, each decoded once,
// with its short URL and title in the text.
func TestQRSheet(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{Health: true})
	const n = 12
	var ids []string
	for i := range n {
		e.setProduct(420+i, fmt.Sprintf("Sheet product %d", i))
		ids = append(ids, e.createH(fmt.Sprintf(`{"url":%q}`, product(420+i)), http.StatusCreated).ID)
	}
	const dpi = 200
	tests := []struct {
		name    string
		body    string
		size    float64
		paperPt [2]float64
		title   bool
		pages   func(int) bool
	}{
		{"a4 small with titles", `"paper":"a4","size_mm":20,"title":true`, 20, [2]float64{210 * ptPerMM, 297 * ptPerMM}, true,
			func(p int) bool { return p == 1 }},
		{"letter large", `"paper":"letter","size_mm":60`, 60, [2]float64{612, 792}, false,
			func(p int) bool { return p > 1 }},
		{"defaults", ``, 40, [2]float64{210 * ptPerMM, 297 * ptPerMM}, false, func(p int) bool { return p >= 1 }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ev, _ := json.Marshal(append(ids, ids[0])) // a duplicate is printed once
			body := `{"ids":` + string(ev)
			if tc.body != "" {
				body += "," + tc.body
			}
			r := e.api(http.MethodPost, "/api/qr/sheet", body+"}")
			if r.status != http.StatusOK || r.header.Get("Content-Type") != "application/pdf" {
				t.Fatalf("POST /api/qr/sheet %s = %s, want 200 application/pdf", body, r)
			}
			pages, w, h := pdfPages(t, r.body)
			if !tc.pages(pages) || math.Abs(w-tc.paperPt[0]) > 0.5 || math.Abs(h-tc.paperPt[1]) > 0.5 {
				t.Errorf("pdfinfo: %d pages of %.2f × %.2f pt, want %.2f × %.2f", pages, w, h, tc.paperPt[0], tc.paperPt[1])
			}
			seen := map[string]int{}
			for p, img := range rasterise(t, r.body, dpi) {
				for _, c := range findCodes(t, img, dpi, tc.size) {
					seen[c.text]++
					checkSize(t, fmt.Sprintf("page %d", p+1), c, tc.size, dpi)
				}
			}
			text := strings.Join(strings.Fields(pdfText(t, r.body)), " ")
			for i, id := range ids {
				if want := testBase + "/" + id + "?qr"; seen[want] != 1 {
					t.Errorf("code of %s found %d times, want once (found: %v)", id, seen[want], seen)
				}
				if !strings.Contains(text, "go.example.test/"+id) {
					t.Errorf("text lacks the short URL of %s", id)
				}
				if has := strings.Contains(text, fmt.Sprintf("Sheet product %d", i)); has != tc.title {
					t.Errorf("text has the title of %s = %v, want %v", id, has, tc.title)
				}
			}
			if len(seen) != n {
				t.Errorf("found %d distinct codes, want %d: %v", len(seen), n, seen)
			}
		})
	}
	many, _ := json.Marshal(make([]string, 201))
	bad := []struct{ name, body, reason string }{
		{"no ids", `{"ids":[]}`, "at least one"},
		{"too many", `{"ids":` + string(many) + `}`, "at most 200"},
		{"unknown id", `{"ids":["` + ids[0] + `","nosuchlink1","x{y"]}`, "no such link: nosuchlink1, x{y"},
		{"size", `{"ids":["` + ids[0] + `"],"size_mm":101}`, "size_mm"},
		{"paper", `{"ids":["` + ids[0] + `"],"paper":"a3"}`, "paper"},
		{"unknown field", `{"ids":["` + ids[0] + `"],"copies":2}`, "unknown field"},
	}
	for _, tc := range bad {
		msg := apiError(t, tc.name, e.api(http.MethodPost, "/api/qr/sheet", tc.body), http.StatusBadRequest)
		if !strings.Contains(msg, tc.reason) {
			t.Errorf("%s: error %q, want it to say %q", tc.name, msg, tc.reason)
		}
	}
	if r := e.request(http.MethodPost, "/api/qr/sheet", strings.NewReader(`{"ids":["`+ids[0]+`"]}`)); r.status != http.StatusUnauthorized {
		t.Errorf("POST /api/qr/sheet without a token = %s, want 401", r)
	}
}

// POST /api/qr/zip: one file per link, each the code /{id}/qr.png or .svg draws.
func TestQRZip(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	var ids []string
	for i := range 3 {
		ids = append(ids, e.create(fmt.Sprintf(`{"url":%q}`, product(450+i)), http.StatusCreated).ID)
	}
	for _, format := range []string{"png", "svg"} {
		t.Run(format, func(t *testing.T) {
			r := e.api(http.MethodPost, "/api/qr/zip", fmt.Sprintf(`{"ids":["%s","%s","%s","%s"],"format":%q}`, ids[0], ids[1], ids[2], ids[1], format))
			if r.status != http.StatusOK || r.header.Get("Content-Type") != "application/zip" {
				t.Fatalf("POST /api/qr/zip = %s, want 200 application/zip", r)
			}
			zr, err := zip.NewReader(bytes.NewReader(r.body), int64(len(r.body)))
			if err != nil {
				t.Fatalf("zip: %v", err)
			}
			if len(zr.File) != 3 {
				t.Fatalf("zip holds %d files, want 3", len(zr.File))
			}
			for i, f := range zr.File {
				if want := ids[i] + "." + format; f.Name != want {
					t.Errorf("file %d is %q, want %q", i, f.Name, want)
				}
				rc, err := f.Open()
				if err != nil {
					t.Fatal(err)
				}
				var buf bytes.Buffer
				_, err = buf.ReadFrom(rc)
				rc.Close()
				if err != nil {
					t.Fatalf("read %s: %v", f.Name, err)
				}
				single := e.get("/" + ids[i] + "/qr." + format)
				if !bytes.Equal(buf.Bytes(), single.body) {
					t.Errorf("%s differs from GET /%s/qr.%s", f.Name, ids[i], format)
				}
				if format == "png" {
					if text, _ := decodeQR(t, buf.Bytes()); text != testBase+"/"+ids[i]+"?qr" {
						t.Errorf("%s says %q", f.Name, text)
					}
				}
			}
		})
	}
	msg := apiError(t, "bad format", e.api(http.MethodPost, "/api/qr/zip", `{"ids":["`+ids[0]+`"],"format":"gif"}`), http.StatusBadRequest)
	if !strings.Contains(msg, "format") {
		t.Errorf("bad format: error %q", msg)
	}
	apiError(t, "unknown id", e.api(http.MethodPost, "/api/qr/zip", `{"ids":["nosuchlink1"]}`), http.StatusBadRequest)
}

// Every PDF is drawn anew, so each spends one of the client's renderings: past its budget a client gets
// 429 with Retry-After, and another client still gets its PDF.
func TestQRPDFRenderBudget(t *testing.T) {
	t.Parallel()
	const burst = 2
	e := newEnv(t, envOptions{Limits: &LimitOptions{RenderRate: 0.001, RenderBurst: burst, TrustedProxies: localProxy}})
	code := mustProductCode(t, productID(460))
	const hostile, other = "203.0.113.8", "198.51.100.10"
	for i := range burst {
		if r := e.get("/"+code+"/qr.pdf", "X-Forwarded-For", hostile); r.status != http.StatusOK {
			t.Fatalf("PDF %d of a budget of %d = %s, want 200", i+1, burst, r)
		}
	}
	r := e.get("/"+code+"/qr.pdf", "X-Forwarded-For", hostile)
	if ra, err := strconv.Atoi(r.header.Get("Retry-After")); r.status != http.StatusTooManyRequests || err != nil || ra < 1 {
		t.Errorf("PDF past the budget = %s Retry-After %q, want 429 with a Retry-After", r, r.header.Get("Retry-After"))
	}
	if r := e.get("/"+code+"/qr.pdf", "X-Forwarded-For", other); r.status != http.StatusOK {
		t.Errorf("PDF for another client = %s, want 200", r)
	}
}
