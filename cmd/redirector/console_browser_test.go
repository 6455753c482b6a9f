package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/redirector/redirector/internal/clocktest"
)

// chromiumPath is the browser the console test drives; `make test` installs it
// (scripts/ensure-chromium.sh).
const chromiumPath = "/usr/bin/chromium"

// browserUA is the User-Agent of the test's own clicks: a person's browser, so they are counted.
const browserUA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"

// consoleService is the whole redirector, started by run in -dev mode on a free port.
type consoleService struct {
	base  string
	token string
}

func startConsoleService(t *testing.T) consoleService {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	addr := ln.Addr().String()
	ln.Close()
	svc := consoleService{base: "http://" + addr, token: "console-test-token-7Hq2"}
	environ := []string{
		"LISTEN_ADDR=" + addr,
		"BASE_URL=" + svc.base,
		"ADMIN_TOKEN=" + svc.token,
		"CLICK_FLUSH=100ms",
		// One browser clicks link B twice (once as a scan), and the console must show both.
		"CLICK_DEDUP_WINDOW=0",
		"LOG_LEVEL=warn",
		"DATA_DIR=" + t.TempDir(),
	}
	ctx, cancel := context.WithCancel(context.Background())
	var out bytes.Buffer // written by run's goroutine only; read after it returned
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"-dev"}, environ, strings.NewReader(""), &out, &out) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("run returned %v; output:\n%s", err, out.String())
			}
		case <-time.After(15 * time.Second):
			t.Errorf("run did not return within 15s of its context ending")
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case err := <-done:
			t.Fatalf("run returned before serving: %v; output:\n%s", err, out.String())
		default:
		}
		resp, err := http.Get(svc.base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return svc
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET /healthz did not answer 200 within 10s (last error %v)", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// visit is a person's click on a short link (with query "qr" for a scan): it must be a 302.
func (s consoleService) visit(t *testing.T, id, query string) {
	t.Helper()
	client := &http.Client{
		Timeout:       5 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	u := s.base + "/" + id
	if query != "" {
		u += "?" + query
	}
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("User-Agent", browserUA)
	req.Header.Set("Accept", "text/html,application/xhtml+xml")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("GET %s: status %d, want 302", u, resp.StatusCode)
	}
}

// link reads a link through the admin API; ok=false for a 404.
func (s consoleService) link(t *testing.T, id string) (rec struct {
	Target       string `json:"target"`
	Clicks       int64  `json:"clicks"`
	Scans        int64  `json:"scans"`
	FallbackURL  string `json:"fallback_url"`
	FallbackWhen string `json:"fallback_when"`
}, ok bool) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, s.base+"/api/links/"+id, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+s.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET /api/links/%s: %v", id, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return rec, false
	}
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET /api/links/%s: status %d: %s", id, resp.StatusCode, body)
	}
	if err := json.NewDecoder(resp.Body).Decode(&rec); err != nil {
		t.Fatalf("GET /api/links/%s: decode: %v", id, err)
	}
	return rec, true
}

// create makes a link through the admin API.
func (s consoleService) create(t *testing.T, target string) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"url": target})
	req, err := http.NewRequest(http.MethodPost, s.base+"/api/links", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+s.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST /api/links %s: %v", target, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST /api/links %s: status %d, want 201", target, resp.StatusCode)
	}
}

// waitClicks waits for the click buffer's flush to show clicks and scans for id.
func (s consoleService) waitClicks(t *testing.T, id string, clicks, scans int64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		rec, ok := s.link(t, id)
		if ok && rec.Clicks == clicks && rec.Scans == scans {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("link %s: %d clicks and %d scans after 5s, want %d and %d", id, rec.Clicks, rec.Scans, clicks, scans)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// browserEvents collects what the page did that a test should look at afterwards.
type browserEvents struct {
	mu       sync.Mutex // guards the fields below; Listen's callback and the test both use them
	requests []string   // every URL the page asked for
	problems []string   // exceptions, console.error calls and security (CSP) messages
}

func (b *browserEvents) listen(ev any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch ev := ev.(type) {
	case *network.EventRequestWillBeSent:
		b.requests = append(b.requests, ev.Request.URL+" "+fmt.Sprint(ev.Request.Headers["Referer"]))
	case *runtime.EventExceptionThrown:
		b.problems = append(b.problems, "exception: "+ev.ExceptionDetails.Text+" "+exceptionDescription(ev.ExceptionDetails))
	case *runtime.EventConsoleAPICalled:
		if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeWarning {
			b.problems = append(b.problems, fmt.Sprintf("console.%s: %v", ev.Type, ev.Args))
		}
	case *log.EventEntryAdded:
		// Network errors (the 400 and 401 the test provokes) are expected; anything else is not.
		if ev.Entry.Source != log.EntrySourceNetwork && (ev.Entry.Level == log.EntryLevelError || ev.Entry.Source == log.EntrySourceSecurity) {
			b.problems = append(b.problems, fmt.Sprintf("log (%s): %s", ev.Entry.Source, ev.Entry.Text))
		}
	}
}

func exceptionDescription(d *runtime.ExceptionDetails) string {
	if d.Exception != nil {
		return d.Exception.Description
	}
	return ""
}

// TestConsoleInBrowser drives the console in headless Chromium through its main use: sign in,
// shorten, see the QR code, see a click counted, retarget, delete. It saves screenshots of the
// screens to screenshots/ at the repository root.
func TestConsoleInBrowser(t *testing.T) {
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("the console browser test needs Chromium at %s (%v): run `make test`, which installs it "+
			"(scripts/ensure-chromium.sh), or run scripts/ensure-chromium.sh once", chromiumPath, err)
	}
	svc := startConsoleService(t)
	bctx, events, shots := startBrowser(t, 1280, 900)

	do := func(step string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(bctx, actions...); err != nil {
			t.Fatalf("%s: %v", step, err)
		}
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("read text of %s: %v", sel, err)
		}
		return s
	}
	// waitJS waits until the expression is true in the page.
	waitJS := func(what, expr string) { t.Helper(); browserWaitJS(t, bctx, what, expr) }
	screenshot := func(name string) []byte { t.Helper(); return browserScreenshot(t, bctx, shots, name) }

	// Sign in: a wrong token is refused in words, the right one opens the console.
	do("open the console",
		chromedp.Navigate(svc.base+"/admin"),
		chromedp.WaitVisible(chromedp.ID("token")),
	)
	screenshot("01-sign-in.png")
	do("sign in with a wrong token",
		chromedp.SendKeys(chromedp.ID("token"), "not-the-token"),
		chromedp.Click(chromedp.CSS("#login-form button[type=submit]")),
		chromedp.WaitVisible(chromedp.ID("login-error")),
	)
	if got := text("#login-error"); !strings.Contains(got, "admin token was not accepted") {
		t.Errorf("after a wrong token the sign-in form says %q, want it to say the token was not accepted", got)
	}
	do("sign in",
		chromedp.SendKeys(chromedp.ID("token"), svc.token),
		chromedp.Click(chromedp.CSS("#login-form button[type=submit]")),
		chromedp.WaitVisible(chromedp.ID("urls")),
	)

	// Shorten two product URLs and one that is not AliExpress's.
	const (
		productA = "https://www.aliexpress.com/item/1005001234567890.html?spm=a2g0o.home.0.0&utm_source=blog"
		productB = "https://es.aliexpress.com/item/1005006543210987.html"
		foreign  = "https://example.com/item/1005001234567890.html"
		productC = "https://www.aliexpress.com/item/1005004242424242.html"
	)
	do("shorten",
		chromedp.SendKeys(chromedp.ID("urls"), productA+"\n"+productB+"\n"+foreign),
		chromedp.Click(chromedp.ID("shorten")),
	)
	waitJS("three results", `document.querySelectorAll('#results .result:not(.pending)').length === 3`)
	waitJS("the links listed", `document.querySelectorAll('#links li.link').length === 2`)
	ids, err := chromedp.Run(bctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('#results .result[data-id]')].map(e => e.dataset.id)`))
	if err != nil || len(ids) != 2 {
		t.Fatalf("result ids = %v (%v), want two", ids, err)
	}
	idA, idB := ids[0], ids[1]
	if got := text("#results .result.failed .field-error"); !strings.HasPrefix(got, "Not accepted: ") || strings.ContainsAny(got, "{}\"") {
		t.Errorf("the error for %s reads %q, want a sentence starting %q and no JSON", foreign, got, "Not accepted: ")
	}
	if got, err := chromedp.Run(bctx, chromedp.Value(chromedp.ID("urls"))); err != nil || got != foreign {
		t.Errorf("the URL box holds %q (%v) after shortening, want only the URL that failed, %q", got, err, foreign)
	}
	waitJS("the QR codes drawn", `[...document.querySelectorAll('#results img.qr-img')].every(i => i.complete && i.naturalWidth > 0)`)
	width, err := chromedp.Run(bctx, chromedp.Evaluate[int](`document.querySelector('#results img.qr-img').naturalWidth`))
	if err != nil || width <= 0 {
		t.Errorf("QR image naturalWidth = %d (%v), want > 0", width, err)
	}
	for _, id := range ids {
		sel := fmt.Sprintf(`#results .result[data-id=%q]`, id)
		attrs, err := chromedp.Run(bctx, chromedp.AttributesAll(chromedp.CSSAll(sel+" a.dl")))
		if err != nil || len(attrs) != 2 {
			t.Fatalf("download links of %s: %v (%v), want two", id, attrs, err)
		}
		if attrs[0]["href"] != "/"+id+"/qr.png?size=1024" || attrs[1]["href"] != "/"+id+"/qr.svg" || attrs[0]["download"] == "" {
			t.Errorf("download links of %s = %v, want PNG and SVG downloads of /%s/qr.*", id, attrs, id)
		}
	}
	do("copy a short link", chromedp.Click(chromedp.CSS(`#results .result button.copy`)))
	waitJS("the copy confirmed", `document.querySelector('#results .result button.copy').textContent === 'Copied'`)
	if got := text(fmt.Sprintf(`#links li.link[data-id=%q] .count.clicks`, idA)); got != "0 clicks" {
		t.Errorf("new link %s shows %q, want %q", idA, got, "0 clicks")
	}
	screenshot("02-shortened.png")

	// Clicks from outside: one for A; two for B, one of them a QR scan.
	svc.visit(t, idA, "")
	svc.visit(t, idB, "")
	svc.visit(t, idB, "qr")
	svc.waitClicks(t, idA, 1, 0)
	svc.waitClicks(t, idB, 2, 1)
	do("reload", chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("links")))
	rowA := fmt.Sprintf(`#links li.link[data-id=%q]`, idA)
	rowB := fmt.Sprintf(`#links li.link[data-id=%q]`, idB)
	waitJS("the list after reload", fmt.Sprintf(`document.querySelector(%q) !== null`, rowA))
	if got := text(rowA + " .count.clicks"); got != "1 click" {
		t.Errorf("after one click, link %s shows %q, want %q", idA, got, "1 click")
	}
	if got := text(rowB + " .count.scans"); got != "1 scan" {
		t.Errorf("after one scan, link %s shows %q, want %q", idB, got, "1 scan")
	}

	// Each link shows its health badge, and the health filter asks the API for one state: no link here
	// is gone, so "Gone" empties the list and "All links" brings them back.
	if got := text(rowA + " .count.health"); got == "" {
		t.Errorf("link %s shows no health badge", idA)
	}
	pick := func(v string) string {
		return fmt.Sprintf(`(() => { const s = document.getElementById('health-filter'); s.value = %q; s.dispatchEvent(new Event('change')); return true; })()`, v)
	}
	waitJS("the gone filter picked", pick("gone"))
	waitJS("no gone links listed", fmt.Sprintf(`document.querySelector(%q) === null`, rowA))
	waitJS("the filter cleared", pick(""))
	waitJS("every link listed again", fmt.Sprintf(`document.querySelector(%q) !== null`, rowA))

	// Search filters the loaded links by product.
	do("search", chromedp.SendKeys(chromedp.ID("search"), "1005006543210987"))
	waitJS("the filter", fmt.Sprintf(`document.querySelector(%q).hidden && !document.querySelector(%q).hidden`, rowA, rowB))
	do("clear the search", chromedp.Evaluate[chromedp.Void](
		`(s => { s.value = ''; s.dispatchEvent(new Event('input')); })(document.getElementById('search'))`))
	waitJS("the filter cleared", fmt.Sprintf(`!document.querySelector(%q).hidden`, rowA))

	// The same product again gets the same link, marked as one it already had.
	do("shorten B again",
		chromedp.SendKeys(chromedp.ID("urls"), "https://m.aliexpress.com/item/1005006543210987.html?spm=x"),
		chromedp.Click(chromedp.ID("shorten")),
	)
	waitJS("B's result", `document.querySelectorAll('#results .result:not(.pending)').length === 1`)
	if got, err := chromedp.Run(bctx, chromedp.Evaluate[string](`document.querySelector('#results .result').dataset.id || ''`)); err != nil || got != idB {
		t.Errorf("shortening B's product again gave link %q (%v), want %q", got, err, idB)
	}
	if got := text("#results .result .badge"); got != "Already had one" {
		t.Errorf("shortening B's product again is marked %q, want %q", got, "Already had one")
	}

	// B's details: the chart has today's bar, with its scan.
	do("open B's details", chromedp.Click(chromedp.CSS(rowB+" button.toggle")), chromedp.WaitVisible(chromedp.CSS(rowB+" svg.chart")))
	bars, err := chromedp.Run(bctx, chromedp.Evaluate[[]int](fmt.Sprintf(
		`[%[1]q + ' .bar-clicks', %[1]q + ' .bar-scans'].map(s => document.querySelectorAll(s).length)`, rowB)))
	if err != nil || len(bars) != 2 || bars[0] != 1 || bars[1] != 1 {
		t.Errorf("B's chart has %v bars of clicks and scans (%v), want [1 1]", bars, err)
	}
	waitJS("B's QR code", fmt.Sprintf(`(i => i && i.complete && i.naturalWidth > 0)(document.querySelector(%q))`, rowB+" .details img.qr-img"))
	png := screenshot("03-details.png")
	docs := filepath.Join("..", "..", "docs", "console.png")
	if _, err := os.Stat(docs); err != nil || os.Getenv("UPDATE_CONSOLE_SCREENSHOT") != "" {
		if err := os.MkdirAll(filepath.Dir(docs), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(docs, png, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// Retarget A, after a confirmation.
	do("open A's details", chromedp.Click(chromedp.CSS(rowA+" button.toggle")), chromedp.WaitVisible(chromedp.CSS(rowA+" .retarget-url")))
	do("retarget A",
		chromedp.SetValue(chromedp.CSS(rowA+" .retarget-url"), productC),
		chromedp.Click(chromedp.CSS(rowA+" .retarget-btn")),
		chromedp.WaitVisible(chromedp.CSS(rowA+" .confirm .yes")),
	)
	if rec, _ := svc.link(t, idA); rec.Target == "https://www.aliexpress.com/item/1005004242424242.html" {
		t.Fatalf("link %s was retargeted before the confirmation", idA)
	}
	screenshot("04-retarget-confirm.png")
	do("confirm the retarget", chromedp.Click(chromedp.CSS(rowA+" .confirm .yes")), chromedp.WaitVisible(chromedp.CSS(rowA+" .msg.ok")))
	if rec, _ := svc.link(t, idA); rec.Target != "https://www.aliexpress.com/item/1005004242424242.html" {
		t.Errorf("after the retarget, link %s leads to %q, want the canonical page of %s", idA, rec.Target, productC)
	}
	if got := text(rowA + " .link-what .target"); !strings.Contains(got, "1005004242424242") {
		t.Errorf("after the retarget, row %s names %q, want the new product", idA, got)
	}

	// A plan B for A (PATCH fallback_url), also while it earns nothing; then cleared.
	const planB = "https://www.aliexpress.com/item/1005004343434343.html"
	do("set A's plan B",
		chromedp.SetValue(chromedp.CSS(rowA+" .fallback-url"), planB),
		chromedp.Click(chromedp.CSS(rowA+" .fallback-untagged")),
		chromedp.Click(chromedp.CSS(rowA+" .fallback-btn")),
	)
	// Wait for the console's answer, not only the store's: it writes the saved plan B back into the input.
	clocktest.WaitFor(t, "the console to save A's plan B", func() bool {
		return strings.HasPrefix(text(rowA+" .msg"), "Plan B saved")
	})
	if rec, _ := svc.link(t, idA); rec.FallbackURL != planB || rec.FallbackWhen != "untagged" {
		t.Errorf("after saving a plan B, link %s has %q when %q; want %q untagged", idA, rec.FallbackURL, rec.FallbackWhen, planB)
	}
	do("clear A's plan B",
		chromedp.SetValue(chromedp.CSS(rowA+" .fallback-url"), " "), // blank: the console trims it
		chromedp.Click(chromedp.CSS(rowA+" .fallback-btn")),
	)
	clocktest.WaitFor(t, "the console to clear A's plan B", func() bool {
		rec, _ := svc.link(t, idA)
		return rec.FallbackURL == "" && rec.FallbackWhen == ""
	})

	// Delete A, after a confirmation; a Cancel first leaves it alone.
	do("ask to delete A and cancel",
		chromedp.Click(chromedp.CSS(rowA+" .delete-btn")),
		chromedp.WaitVisible(chromedp.CSS(rowA+" .confirm .no")),
		chromedp.Click(chromedp.CSS(rowA+" .confirm .no")),
		chromedp.WaitNotPresent(chromedp.CSS(rowA+" .confirm")),
	)
	if _, ok := svc.link(t, idA); !ok {
		t.Fatalf("link %s is gone after Cancel", idA)
	}
	do("delete A",
		chromedp.Click(chromedp.CSS(rowA+" .delete-btn")),
		chromedp.WaitVisible(chromedp.CSS(rowA+" .confirm .yes")),
		chromedp.Click(chromedp.CSS(rowA+" .confirm .yes")),
		chromedp.WaitNotPresent(chromedp.CSS(rowA)),
	)
	if _, ok := svc.link(t, idA); ok {
		t.Errorf("link %s still exists after the console deleted it", idA)
	}
	screenshot("05-after-delete.png")

	// The same screen on a phone, and in dark mode.
	do("phone viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
	screenshot("06-phone.png")
	if _, err := chromedp.Call(bctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
		Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}},
	}); err != nil {
		t.Fatalf("emulate dark mode: %v", err)
	}
	do("desktop viewport", chromedp.EmulateViewport(1280, 900))
	screenshot("07-dark.png")

	// Paging: with more links than a page holds, "More" loads the rest.
	if _, err := chromedp.Call(bctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{}); err != nil {
		t.Fatalf("stop emulating dark mode: %v", err)
	}
	for i := range 50 {
		svc.create(t, fmt.Sprintf("https://www.aliexpress.com/item/10050077%08d.html", i))
	}
	do("refresh", chromedp.Click(chromedp.ID("refresh")))
	waitJS("a full first page", `document.querySelectorAll('#links li.link').length === 50 && !document.getElementById('more').hidden`)
	do("more", chromedp.Click(chromedp.ID("more")))
	waitJS("the second page", `document.querySelectorAll('#links li.link').length === 51 && document.getElementById('more').hidden`)
	if got, err := chromedp.Run(bctx, chromedp.Evaluate[string](`document.querySelector('#links li.link:last-child').dataset.id`)); err != nil || got != idB {
		t.Errorf("the oldest link, last in the list, is %q (%v), want %q", got, err, idB)
	}

	// The token lives in sessionStorage only; a token the server refuses sends the person back
	// to the sign-in form, in words.
	stored, err := chromedp.Run(bctx, chromedp.Evaluate[[]int](`[sessionStorage.length, localStorage.length]`))
	if err != nil || len(stored) != 2 || stored[0] != 1 || stored[1] != 0 {
		t.Errorf("[sessionStorage.length, localStorage.length] = %v (%v), want [1 0]", stored, err)
	}
	do("a stale token",
		chromedp.Evaluate[chromedp.Void](`sessionStorage.setItem('redirector.adminToken', 'stale-token')`),
		chromedp.Reload(),
		chromedp.WaitVisible(chromedp.ID("login-error")),
	)
	if got := text("#login-error"); !strings.Contains(got, "admin token was not accepted") {
		t.Errorf("with a refused token the sign-in form says %q, want it to say the token was not accepted", got)
	}

	events.mu.Lock()
	defer events.mu.Unlock()
	for _, p := range events.problems {
		t.Errorf("the page reported: %s", p)
	}
	for _, r := range events.requests {
		if strings.Contains(r, svc.token) {
			t.Errorf("the admin token appeared in a request URL or Referer: %s", r)
		}
		if !strings.HasPrefix(r, svc.base+"/") && !strings.HasPrefix(r, "data:") {
			t.Errorf("the page asked another origin for %s", r)
		}
	}
	if len(events.requests) == 0 {
		t.Error("saw no requests from the page: the network listener is not working")
	}
}
