package redirect

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/redirector/redirector/internal/affiliate/affiliatetest"
	"github.com/redirector/redirector/internal/bio"
)

// pageReply is a page as the admin API answers it.
type pageReply struct {
	Handle    string     `json:"handle"`
	Title     string     `json:"title"`
	Text      string     `json:"text"`
	Avatar    string     `json:"avatar"`
	Items     []bio.Item `json:"items"`
	CreatedAt string     `json:"created_at"`
	UpdatedAt string     `json:"updated_at"`
	URL       string     `json:"url"`
	Views     *int64     `json:"views"`
}

// setProduct gives the test product n details on the platform fake.
func (e *env) setProduct(n int, title string) {
	pid := strconv.FormatInt(productID(n), 10)
	e.platform.SetProduct(pid, affiliatetest.Product{
		ID: pid, Title: title, ImageURL: fmt.Sprintf("https://ae01.alicdn.com/kf/S%d.jpg", n), Price: "9.99", Currency: "USD",
	})
}

func (e *env) createPage(body string, want int) pageReply {
	e.t.Helper()
	r := e.api(http.MethodPost, "/api/pages", body)
	if r.status != want {
		e.t.Fatalf("POST /api/pages %s = %s, want %d", body, r, want)
	}
	var p pageReply
	if want == http.StatusCreated {
		decode(e.t, r, &p)
	}
	return p
}

func TestBioPageServedWithItemsAndHeaders(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.setProduct(700, "Folding desk lamp")
	e.setProduct(701, "Travel mug")
	lamp := e.create(`{"url":"`+product(700)+`"}`, http.StatusCreated)
	p := e.createPage(`{"handle":"Ana.Picks","title":"Ana's picks","text":"What I use","items":[
		{"heading":"Desk"},
		{"id":"`+lamp.ID+`","caption":"My lamp"},
		{"url":"`+product(701)+`"}]}`, http.StatusCreated)
	if len(p.Items) != 3 || p.Items[2].ID == "" || p.Items[2].URL != "" {
		t.Fatalf("created page items = %+v, want the url item turned into a short link id", p.Items)
	}
	if p.URL != testBase+"/@Ana.Picks" {
		t.Errorf("url = %q, want %q", p.URL, testBase+"/@Ana.Picks")
	}
	mug := p.Items[2].ID
	if r := e.api(http.MethodGet, "/api/links/"+mug, ""); r.status != http.StatusOK {
		t.Errorf("the url item's short link %s: GET = %v, want 200", mug, r)
	}

	for _, path := range []string{"/@Ana.Picks", "/@ana.picks", "/@ANA.PICKS"} {
		r := e.get(path)
		if r.status != http.StatusOK {
			t.Fatalf("GET %s = %v, want 200", path, r)
		}
		body := string(r.body)
		for _, want := range []string{
			`<h2>Desk</h2>`,
			`href="/` + lamp.ID + `?src=bio"`,
			`<b>My lamp</b>`,
			`href="/` + mug + `?src=bio"`,
			`<b>Travel mug</b>`, // no caption: the product's title
			`src="https://ae01.alicdn.com/kf/S701.jpg"`,
			`9.99 USD`,
			`<meta name="viewport"`,
			`<meta property="og:title" content="Ana&#39;s picks">`,
		} {
			if !strings.Contains(body, want) {
				t.Errorf("GET %s lacks %s\n%s", path, want, body)
			}
		}
		if strings.Contains(strings.ToLower(body), "<script") {
			t.Errorf("GET %s has a script", path)
		}
		csp := r.header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "img-src https://*.alicdn.com https://*.aliexpress-media.com;") ||
			strings.Contains(csp, "unsafe-inline") {
			t.Errorf("GET %s: CSP = %q, want no scripts, no unsafe-inline, images from AliExpress only", path, csp)
		}
		// The page's one style block is the one the CSP's hash allows.
		if m := regexp.MustCompile(`(?s)<style>(.*?)</style>`).FindStringSubmatch(body); m == nil || !strings.Contains(bio.CSP, styleHash(m[1])) {
			t.Errorf("GET %s: the style block's hash is not in the CSP %q", path, csp)
		}
		if r.header.Get("ETag") == "" {
			t.Errorf("GET %s has no ETag", path)
		}
	}
	// Unchanged: 304, no body.
	r := e.get("/@ana.picks")
	if r2 := e.get("/@ana.picks", "If-None-Match", r.header.Get("ETag")); r2.status != http.StatusNotModified {
		t.Errorf("GET /@ana.picks with its ETag = %v, want 304", r2)
	}
	for _, path := range []string{"/@nobody", "/@ab", "/@ana.picks/x", "/@"} {
		if r := e.get(path); r.status != http.StatusNotFound {
			t.Errorf("GET %s = %v, want 404", path, r)
		}
	}
}

func TestBioHandleCollidingIgnoringCaseIs409(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.createPage(`{"handle":"Shop_Mia","title":"Mia","items":[]}`, http.StatusCreated)
	msg := apiError(t, "POST a page with handle shop_MIA", e.api(http.MethodPost, "/api/pages", `{"handle":"shop_MIA","title":"Other","items":[]}`), http.StatusConflict)
	if !strings.Contains(msg, "taken") {
		t.Errorf("409 message %q does not say the handle is taken", msg)
	}
	var got pageReply
	decode(t, e.api(http.MethodGet, "/api/pages/SHOP_mia", ""), &got)
	if got.Title != "Mia" || got.Handle != "Shop_Mia" {
		t.Errorf("the first page after the collision = %+v, want it unchanged", got)
	}
}

func TestBioBadPagesAre400AndWriteNothing(t *testing.T) {
	e := newEnv(t, envOptions{})
	good := product(710)
	cases := []struct{ name, body, want string }{
		{"short handle", `{"handle":"ab","title":"t","items":[]}`, "handle"},
		{"handle with a dash", `{"handle":"a-b-c","title":"t","items":[]}`, "handle"},
		{"no title", `{"handle":"abc","title":"","items":[]}`, "title"},
		{"unknown field", `{"handle":"abc","title":"t","items":[],"theme":"x"}`, `"theme"`},
		{"unknown id", `{"handle":"abc","title":"t","items":[{"id":"nosuch12"}]}`, "items[0]"},
		{"id and heading", `{"handle":"abc","title":"t","items":[{"id":"nosuch12","heading":"h"}]}`, "items[0]"},
		{"avatar off AliExpress", `{"handle":"abc","title":"t","avatar":"https://evil.example/a.png","items":[]}`, "avatar"},
		{"a bad url after a good one", `{"handle":"abc","title":"t","items":[{"url":"` + good + `"},{"url":"https://evil.example/x"}]}`, "items[1]"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			msg := apiError(t, "POST "+tc.body, e.api(http.MethodPost, "/api/pages", tc.body), http.StatusBadRequest)
			if !strings.Contains(msg, tc.want) {
				t.Errorf("POST %s: message %q does not name %s", tc.body, msg, tc.want)
			}
		})
	}
	if r := e.api(http.MethodGet, "/api/pages/abc", ""); r.status != http.StatusNotFound {
		t.Errorf("GET /api/pages/abc after refused creates = %v, want 404", r)
	}
	// The good url of the refused page made no short link.
	if r := e.api(http.MethodGet, "/api/links/"+mustProductCode(t, productID(710)), ""); r.status != http.StatusNotFound {
		t.Errorf("the good url's link after the page was refused: GET = %v, want 404 (no partial write)", r)
	}
}

func TestBioDeletedLinkLeavesItsPage(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.setProduct(720, "Lamp")
	e.setProduct(721, "Mug")
	a := e.create(`{"url":"`+product(720)+`"}`, http.StatusCreated)
	b := e.create(`{"url":"`+product(721)+`"}`, http.StatusCreated)
	e.createPage(`{"handle":"leo","title":"Leo","items":[{"id":"`+a.ID+`"},{"id":"`+b.ID+`"}]}`, http.StatusCreated)
	if body := string(e.get("/@leo").body); !strings.Contains(body, "/"+a.ID+"?src=bio") {
		t.Fatalf("page lacks %s before the delete:\n%s", a.ID, body)
	}
	if r := e.api(http.MethodDelete, "/api/links/"+a.ID, ""); r.status != http.StatusNoContent {
		t.Fatalf("DELETE link = %v", r)
	}
	body := string(e.get("/@leo").body)
	if strings.Contains(body, "/"+a.ID+"?") {
		t.Errorf("the deleted link %s is still on the page (render kept past the change):\n%s", a.ID, body)
	}
	if !strings.Contains(body, "/"+b.ID+"?src=bio") {
		t.Errorf("the live link %s left the page too", b.ID)
	}
	// A page change shows at once too.
	if r := e.api(http.MethodPatch, "/api/pages/LEO", `{"title":"Leo's new picks"}`); r.status != http.StatusOK {
		t.Fatalf("PATCH page = %v", r)
	}
	if body := string(e.get("/@leo").body); !strings.Contains(body, "Leo&#39;s new picks") {
		t.Errorf("the page after PATCH still shows the old title:\n%s", body)
	}
	if r := e.api(http.MethodDelete, "/api/pages/leo", ""); r.status != http.StatusNoContent {
		t.Fatalf("DELETE page = %v", r)
	}
	if r := e.get("/@leo"); r.status != http.StatusNotFound {
		t.Errorf("GET /@leo after its delete = %v, want 404", r)
	}
}

func TestBioClicksAndViewsCounted(t *testing.T) {
	// Every click counts here (CLICK_DEDUP_WINDOW=0): the test's clicks all come from one visitor.
	e := newEnv(t, envOptions{DedupWindow: -1})
	e.setProduct(730, "Lamp")
	l := e.create(`{"url":"`+product(730)+`"}`, http.StatusCreated)
	e.createPage(`{"handle":"kim","title":"Kim","items":[{"id":"`+l.ID+`"}]}`, http.StatusCreated)

	e.get("/@kim")                           // a person: a view
	e.get("/@kim", "User-Agent", facebook)   // a preview fetcher: none
	e.get("/@kim", "User-Agent", googleUA)   // a crawler: none
	e.request(http.MethodHead, "/@kim", nil) // HEAD: none
	e.get("/" + l.ID + "?src=bio")           // a bio click
	e.get("/" + l.ID)                        // a plain click
	e.get("/"+l.ID+"?src=bio", "User-Agent", googleUA)
	waitFor(t, "clicks and views flushed", func() bool { return e.counter.Pending() == 0 && e.pageViews.Pending() == 0 })

	var got linkReply
	decode(t, e.api(http.MethodGet, "/api/links/"+l.ID, ""), &got)
	if got.Clicks == nil || *got.Clicks != 2 || got.Bio == nil || *got.Bio != 1 {
		t.Errorf("clicks, bio = %v, %v; want 2, 1", deref(got.Clicks), deref(got.Bio))
	}
	if n := len(got.Daily); n == 0 || got.Daily[n-1].Bio != 1 {
		t.Errorf("today's bio clicks = %+v, want 1", got.Daily)
	}
	var p pageReply
	decode(t, e.api(http.MethodGet, "/api/pages/kim", ""), &p)
	if p.Views == nil || *p.Views != 1 {
		t.Errorf("views = %v, want 1 (the person's alone)", deref(p.Views))
	}
}

func deref(p *int64) string {
	if p == nil {
		return "nil"
	}
	return strconv.FormatInt(*p, 10)
}

func TestBioPreviewFetcherGetsOpenGraph(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.setProduct(740, "Lamp")
	l := e.create(`{"url":"`+product(740)+`"}`, http.StatusCreated)
	e.createPage(`{"handle":"zoe","title":"Zoe's finds","text":"Gadgets I love","items":[{"id":"`+l.ID+`"}]}`, http.StatusCreated)
	for _, ua := range []string{facebook, "Twitterbot/1.0"} {
		r := e.get("/@zoe", "User-Agent", ua)
		if r.status != http.StatusOK {
			t.Fatalf("GET /@zoe as %q = %v", ua, r)
		}
		for _, want := range []string{
			`<meta property="og:title" content="Zoe&#39;s finds">`,
			`<meta property="og:description" content="Gadgets I love">`,
			`<meta property="og:url" content="` + testBase + `/@zoe">`,
			`<meta property="og:image" content="https://ae01.alicdn.com/kf/S740.jpg">`,
			`<meta name="twitter:card" content="summary_large_image">`,
		} {
			if !strings.Contains(string(r.body), want) {
				t.Errorf("GET /@zoe as %q lacks %s", ua, want)
			}
		}
	}
}

func TestBioPageOf20ItemsIsSmall(t *testing.T) {
	e := newEnv(t, envOptions{})
	var items []string
	for i := range 20 {
		e.setProduct(750+i, strings.Repeat("Long product title ", 6))
		items = append(items, `{"url":"`+product(750+i)+`","caption":"`+strings.Repeat("c", bio.MaxCaption)+`"}`)
	}
	e.createPage(`{"handle":"big","title":"`+strings.Repeat("T", bio.MaxTitle)+`","text":"`+strings.Repeat("x", bio.MaxText)+`","items":[`+strings.Join(items, ",")+`]}`, http.StatusCreated)
	r := e.get("/@big")
	if n := strings.Count(string(r.body), "?src=bio"); n != 20 {
		t.Fatalf("page has %d items, want 20", n)
	}
	if len(r.body) >= 30<<10 {
		t.Errorf("a page of 20 items is %d bytes, want under 30 KB", len(r.body))
	}
	t.Logf("a page of 20 items, every text at its longest: %d bytes", len(r.body))
}

// styleHash is the CSP source of a style block's content.
func styleHash(css string) string {
	sum := sha256.Sum256([]byte(css))
	return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
}

// view is a GET of /@handle from the address addr (through the loopback proxy the env trusts) with
// the User-Agent ua.
func (e *env) view(handle, addr, ua string) {
	e.t.Helper()
	if r := e.get("/@"+handle, "User-Agent", ua, "X-Forwarded-For", addr); r.status != http.StatusOK {
		e.t.Fatalf("GET /@%s from %s = %s, want 200", handle, addr, r)
	}
}

// pageViews returns the page's views once every view recorded is written.
func (e *env) pageViewsOf(handle string) int64 {
	e.t.Helper()
	waitFor(e.t, "page views flushed", func() bool { return e.pageViews.Pending() == 0 })
	var p pageReply
	decode(e.t, e.api(http.MethodGet, "/api/pages/"+handle, ""), &p)
	if p.Views == nil {
		e.t.Fatalf("GET /api/pages/%s has no views", handle)
	}
	return *p.Views
}

// TestBioViewsDeduplicated is issue 19's "a page view is counted like a click": once per visitor per
// page per CLICK_DEDUP_WINDOW, people only.
func TestBioViewsDeduplicated(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	for _, h := range []string{"one", "two", "bots"} {
		e.createPage(`{"handle":"`+h+`","title":"T"}`, http.StatusCreated)
	}
	for range 100 {
		e.view("one", "193.0.6.139", chromeUA)
	}
	e.view("two", "193.0.6.139", chromeUA)
	e.view("two", "193.0.6.139", chromeUA)
	e.view("two", "194.25.2.129", firefoxUA)
	e.get("/@bots", "User-Agent", facebook)
	e.get("/@bots", "User-Agent", googleUA)
	e.request(http.MethodHead, "/@bots", nil)
	if n := e.pageViewsOf("one"); n != 1 {
		t.Errorf("100 views of one visitor: %d, want 1", n)
	}
	if n := e.pageViewsOf("two"); n != 2 {
		t.Errorf("two visitors: %d views, want 2", n)
	}
	if n := e.pageViewsOf("bots"); n != 0 {
		t.Errorf("a preview fetcher, a crawler and a HEAD: %d views, want 0", n)
	}
}

// TestBioViewsWithoutAWindow: CLICK_DEDUP_WINDOW=0 counts every view, one visitor's too.
func TestBioViewsWithoutAWindow(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{DedupWindow: -1})
	e.createPage(`{"handle":"every","title":"T"}`, http.StatusCreated)
	for range 30 {
		e.view("every", "193.0.6.139", chromeUA)
	}
	if n := e.pageViewsOf("every"); n != 30 {
		t.Errorf("30 views of one visitor without a window: %d, want 30", n)
	}
}
