package redirect

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redirector/redirector/internal/link"
	"github.com/redirector/redirector/internal/shortid"
	"github.com/redirector/redirector/internal/shortlink"
)

func TestCreateProduct(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	page := product(100)
	before := e.clock.Now().Truncate(time.Millisecond)
	l := e.create(fmt.Sprintf(`{"url":"https://m.aliexpress.com/item/%d.html?spm=a2g0o.home.0.0"}`, productID(100)), http.StatusCreated)
	code := mustProductCode(t, productID(100))
	if l.ID != code || l.ShortURL != testBase+"/"+code || l.Target != page {
		t.Errorf("created %+v, want id %q, short_url %q, target %q", l, code, testBase+"/"+code, page)
	}
	if l.QRPNG != l.ShortURL+"/qr.png" || l.QRSVG != l.ShortURL+"/qr.svg" {
		t.Errorf("created qr_png %q, qr_svg %q, want %q and %q", l.QRPNG, l.QRSVG, l.ShortURL+"/qr.png", l.ShortURL+"/qr.svg")
	}
	if l.CreatedAt.Before(before) || l.CreatedAt.After(e.clock.Now()) {
		t.Errorf("created_at %v, want between %v and now", l.CreatedAt, before)
	}

	for _, spelling := range []string{page, fmt.Sprintf("https://es.aliexpress.com/i/%d.html?utm_source=x", productID(100))} {
		again := e.create(fmt.Sprintf(`{"url":%q}`, spelling), http.StatusOK)
		if again.ID != l.ID || !again.CreatedAt.Equal(l.CreatedAt) {
			t.Errorf("POST the same product (%s) again = %+v, want the first link %+v", spelling, again, l)
		}
	}
	checkRedirect(t, "GET /{id}", e.get("/"+l.ID), e.platform.Link(page))
}

func TestCreateOtherPage(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	store := "https://www.aliexpress.com/store/912345"
	l := e.create(`{"url":"https://m.aliexpress.com/store/912345?spm=x"}`, http.StatusCreated)
	if len(l.ID) != 8 || l.Target != store {
		t.Errorf("created %+v, want a random 8-character id and target %q", l, store)
	}
	again := e.create(fmt.Sprintf(`{"url":%q}`, store), http.StatusOK)
	if again.ID != l.ID {
		t.Errorf("POST the same store page again = id %q, want %q", again.ID, l.ID)
	}
	checkRedirect(t, "GET /{id}", e.get("/"+l.ID), e.platform.Link(store))
}

func TestCreateSlug(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	l := e.create(fmt.Sprintf(`{"url":%q,"slug":"Summer_Sale-2026"}`, product(101)), http.StatusCreated)
	if l.ID != "Summer_Sale-2026" || l.ShortURL != testBase+"/Summer_Sale-2026" || l.Target != product(101) {
		t.Errorf("created %+v, want the slug as id", l)
	}
	checkRedirect(t, "GET /{slug}", e.get("/Summer_Sale-2026"), e.platform.Link(product(101)))
	// Slugs are matched ignoring case (issue 18; slugcase_test.go has the rest).
	checkRedirect(t, "GET /{slug in another case}", e.get("/summer_sale-2026"), e.platform.Link(product(101)))
	apiError(t, "POST a taken slug", e.api(http.MethodPost, "/api/links", fmt.Sprintf(`{"url":%q,"slug":"Summer_Sale-2026"}`, product(102))), http.StatusConflict)
	// A second slug for the same product is another link.
	other := e.create(fmt.Sprintf(`{"url":%q,"slug":"winter-sale"}`, product(101)), http.StatusCreated)
	if other.ID != "winter-sale" {
		t.Errorf("second slug for one product = %q, want winter-sale", other.ID)
	}
}

// codeOf1 is the product code of product 1: a slug of that form is refused.
var codeOf1, _ = shortid.Product(strconv.FormatInt(productID(1), 10))

// createRejectTests are bodies POST /api/links must refuse; the fuzz test starts from them too.
var createRejectTests = []struct {
	name, body string
	want       int
}{
	{"empty body", ``, http.StatusBadRequest},
	{"not an object", `"https://www.aliexpress.com/item/1005001000000001.html"`, http.StatusBadRequest},
	{"malformed", `{"url":`, http.StatusBadRequest},
	{"unknown field", `{"url":"https://www.aliexpress.com/item/1005001000000001.html","note":"x"}`, http.StatusBadRequest},
	{"trailing object", `{"url":"https://www.aliexpress.com/item/1005001000000001.html"} {}`, http.StatusBadRequest},
	{"trailing garbage", `{"url":"https://www.aliexpress.com/item/1005001000000001.html"}x`, http.StatusBadRequest},
	{"url a number", `{"url":5}`, http.StatusBadRequest},
	{"no url", `{}`, http.StatusBadRequest},
	{"empty url", `{"url":""}`, http.StatusBadRequest},
	{"other site", `{"url":"https://evil.example/item/1.html"}`, http.StatusBadRequest},
	{"javascript", `{"url":"javascript:alert(1)"}`, http.StatusBadRequest},
	{"look-alike host", `{"url":"https://www.aliexpress.com.evil.example/item/1.html"}`, http.StatusBadRequest},
	{"share link that cannot be followed", `{"url":"https://a.aliexpress.com/_mKx1a2B"}`, http.StatusBadRequest},
	{"slug too short", `{"url":"https://www.aliexpress.com/item/1005001000000001.html","slug":"ab"}`, http.StatusBadRequest},
	{"slug too long", `{"url":"https://www.aliexpress.com/item/1005001000000001.html","slug":"` + strings.Repeat("a", 65) + `"}`, http.StatusBadRequest},
	{"slug with space", `{"url":"https://www.aliexpress.com/item/1005001000000001.html","slug":"a b c"}`, http.StatusBadRequest},
	{"slug with slash", `{"url":"https://www.aliexpress.com/item/1005001000000001.html","slug":"abc/def"}`, http.StatusBadRequest},
	{"slug with brace", `{"url":"https://www.aliexpress.com/item/1005001000000001.html","slug":"abc{d}"}`, http.StatusBadRequest},
	{"slug non-ASCII", `{"url":"https://www.aliexpress.com/item/1005001000000001.html","slug":"caf\u00e9"}`, http.StatusBadRequest},
	{"reserved slug", `{"url":"https://www.aliexpress.com/item/1005001000000001.html","slug":"admin"}`, http.StatusBadRequest},
	{"reserved slug any case", `{"url":"https://www.aliexpress.com/item/1005001000000001.html","slug":"HealthZ"}`, http.StatusBadRequest},
	{"slug shaped like a product code", `{"url":"https://www.aliexpress.com/item/1005001000000001.html","slug":"` + codeOf1 + `"}`, http.StatusBadRequest},
	{"too large", `{"url":"https://www.aliexpress.com/item/1005001000000001.html","slug":"` + strings.Repeat("a", 70<<10) + `"}`, http.StatusRequestEntityTooLarge},
	{"key in another case", `{"URL":"https://www.aliexpress.com/item/1005001000000001.html"}`, http.StatusBadRequest},
	{"duplicate key", `{"url":"https://www.aliexpress.com/item/1005001000000001.html","url":"https://www.aliexpress.com/item/1005001000000002.html"}`, http.StatusBadRequest},
}

func TestCreateRejects(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	for _, tc := range createRejectTests {
		t.Run(tc.name, func(t *testing.T) {
			msg := apiError(t, "POST /api/links "+truncate(tc.body, 80), e.api(http.MethodPost, "/api/links", tc.body), tc.want)
			if len(msg) > 300 {
				t.Errorf("error message is %d bytes, want a short one: %q", len(msg), truncate(msg, 100))
			}
		})
	}
	r := e.api(http.MethodGet, "/api/links", "")
	var list struct {
		Links []linkReply `json:"links"`
		Total int         `json:"total"`
	}
	decode(t, r, &list)
	if len(list.Links) != 0 || list.Total != 0 {
		t.Errorf("links after refused creates = %d, want 0", len(list.Links))
	}
}

func TestAdminAuth(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	body := strings.NewReader(fmt.Sprintf(`{"url":%q}`, product(103)))
	tests := []struct {
		name   string
		header []string
	}{
		{"no token", nil},
		{"wrong token", []string{"Authorization", "Bearer wrong"}},
		{"token prefix", []string{"Authorization", "Bearer " + testToken[:5]}},
		{"token without Bearer", []string{"Authorization", testToken}},
		{"basic auth", []string{"Authorization", "Basic dGVzdDp0ZXN0"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, req := range []struct{ method, path string }{
				{http.MethodPost, "/api/links"}, {http.MethodGet, "/api/links"}, {http.MethodGet, "/api/links/abcdefgh"},
				{http.MethodDelete, "/api/links/abcdefgh"}, {http.MethodGet, "/api/other"},
			} {
				r := e.request(req.method, req.path, body, tc.header...)
				apiError(t, req.method+" "+req.path, r, http.StatusUnauthorized)
				if r.header.Get("WWW-Authenticate") == "" {
					t.Errorf("%s %s: no WWW-Authenticate header", req.method, req.path)
				}
			}
		})
	}

	off := newEnv(t, envOptions{NoAdmin: true})
	for _, header := range [][]string{nil, {"Authorization", "Bearer " + testToken}, {"Authorization", "Bearer "}} {
		msg := apiError(t, fmt.Sprintf("POST /api/links without ADMIN_TOKEN, header %q", header),
			off.request(http.MethodPost, "/api/links", strings.NewReader(fmt.Sprintf(`{"url":%q}`, product(103))), header...),
			http.StatusForbidden)
		if !strings.Contains(msg, "disabled") {
			t.Errorf("403 message %q does not say the admin API is disabled", msg)
		}
	}
}

func TestRetarget(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	l := e.create(fmt.Sprintf(`{"url":%q,"slug":"printed-flyer"}`, product(104)), http.StatusCreated)
	checkRedirect(t, "GET /{id}", e.get("/"+l.ID), e.platform.Link(product(104)))

	e.clock.Advance(time.Second)
	r := e.api(http.MethodPatch, "/api/links/"+l.ID, fmt.Sprintf(`{"url":"https://m.aliexpress.com/item/%d.html?spm=1"}`, productID(105)))
	if r.status != http.StatusOK {
		t.Fatalf("PATCH = %s, want 200", r)
	}
	var got linkReply
	decode(t, r, &got)
	if got.ID != l.ID || got.Target != product(105) || !got.CreatedAt.Equal(l.CreatedAt) || !got.UpdatedAt.After(l.UpdatedAt) {
		t.Errorf("PATCH answered %+v, want id %q, target %q, created_at %v and a later updated_at", got, l.ID, product(105), l.CreatedAt)
	}
	checkRedirect(t, "GET /{id} right after PATCH", e.get("/"+l.ID), e.platform.Link(product(105)))

	var rec linkReply
	decode(t, e.api(http.MethodGet, "/api/links/"+l.ID, ""), &rec)
	if rec.Target != product(105) {
		t.Errorf("GET /api/links/{id} target = %q, want %q", rec.Target, product(105))
	}

	apiError(t, "PATCH unknown id", e.api(http.MethodPatch, "/api/links/no-such-link", fmt.Sprintf(`{"url":%q}`, product(105))), http.StatusNotFound)
	apiError(t, "PATCH to another site", e.api(http.MethodPatch, "/api/links/"+l.ID, `{"url":"https://evil.example/"}`), http.StatusBadRequest)
	apiError(t, "PATCH with a slug", e.api(http.MethodPatch, "/api/links/"+l.ID, fmt.Sprintf(`{"url":%q,"slug":"new-name"}`, product(105))), http.StatusBadRequest)
	apiError(t, "PATCH with an unknown field", e.api(http.MethodPatch, "/api/links/"+l.ID, `{"target":"x"}`), http.StatusBadRequest)
	checkRedirect(t, "GET /{id} after refused PATCHes", e.get("/"+l.ID), e.platform.Link(product(105)))
}

func TestDelete(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	slug := e.create(fmt.Sprintf(`{"url":%q,"slug":"gone-soon"}`, product(106)), http.StatusCreated).ID
	code := e.create(fmt.Sprintf(`{"url":%q}`, product(107)), http.StatusCreated).ID
	for _, id := range []string{slug, code} {
		checkRedirect(t, "GET /"+id, e.get("/"+id), e.platform.Link(map[string]string{slug: product(106), code: product(107)}[id]))
		r := e.api(http.MethodDelete, "/api/links/"+id, "")
		if r.status != http.StatusNoContent || len(r.body) != 0 {
			t.Fatalf("DELETE /api/links/%s = %s, want 204 and no body", id, r)
		}
		if r := e.get("/" + id); r.status != http.StatusNotFound || r.header.Get("Location") != "" {
			t.Errorf("GET /%s after DELETE = %s, want 404", id, r)
		}
		apiError(t, "GET /api/links/"+id+" after DELETE", e.api(http.MethodGet, "/api/links/"+id, ""), http.StatusNotFound)
		apiError(t, "DELETE /api/links/"+id+" again", e.api(http.MethodDelete, "/api/links/"+id, ""), http.StatusNotFound)
		apiError(t, "PATCH /api/links/"+id+" after DELETE", e.api(http.MethodPatch, "/api/links/"+id, fmt.Sprintf(`{"url":%q}`, product(108))), http.StatusNotFound)
	}
	// A restarted instance knows nothing in process, and the deleted product code stays deleted.
	if r := e.restart().get("/" + code); r.status != http.StatusNotFound {
		t.Errorf("GET /%s (deleted product code) on a new instance = %s, want 404", code, r)
	}
	// The slug is free again.
	if again := e.create(fmt.Sprintf(`{"url":%q,"slug":"gone-soon"}`, product(108)), http.StatusCreated); again.Target != product(108) {
		t.Errorf("re-created slug target = %q, want %q", again.Target, product(108))
	}
	checkRedirect(t, "GET /gone-soon re-created", e.get("/gone-soon"), e.platform.Link(product(108)))
}

func TestList(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	var created []string
	for i := range 7 {
		e.clock.Advance(10 * time.Millisecond)
		created = append(created, e.create(fmt.Sprintf(`{"url":%q}`, product(110+i)), http.StatusCreated).ID)
	}
	r := e.api(http.MethodDelete, "/api/links/"+created[3], "")
	if r.status != http.StatusNoContent {
		t.Fatalf("DELETE = %s, want 204", r)
	}
	var want []string
	for i := len(created) - 1; i >= 0; i-- {
		if i != 3 {
			want = append(want, created[i])
		}
	}

	var got []string
	cursor, pages := "", 0
	for {
		path := "/api/links?limit=4"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		r := e.api(http.MethodGet, path, "")
		if r.status != http.StatusOK {
			t.Fatalf("GET %s = %s, want 200", path, r)
		}
		var page struct {
			Links      []linkReply `json:"links"`
			Total      int         `json:"total"`
			NextCursor string      `json:"next_cursor"`
		}
		decode(t, r, &page)
		t.Logf("GET %s: %s", path, r.body)
		if page.Total != len(want) {
			t.Errorf("page %d: total %d, want %d", pages+1, page.Total, len(want))
		}
		pages++
		if len(page.Links) > 4 {
			t.Errorf("page %d has %d links, want at most 4", pages, len(page.Links))
		}
		for _, l := range page.Links {
			got = append(got, l.ID)
			if l.Clicks == nil || l.ShortURL != testBase+"/"+l.ID {
				t.Errorf("listed link %+v, want clicks and its short_url", l)
			}
		}
		if page.NextCursor == "" {
			break
		}
		if pages > 10 {
			t.Fatalf("more than 10 pages for %d links", len(want))
		}
		cursor = page.NextCursor
	}
	if !slices.Equal(got, want) || pages != 2 {
		t.Errorf("listed %q in %d pages, want %q (newest first) in 2", got, pages, want)
	}

	for _, q := range []string{"limit=0", "limit=-1", "limit=abc", "limit=1001", "cursor=not-a-cursor", "cursor=%7B%7D"} {
		apiError(t, "GET /api/links?"+q, e.api(http.MethodGet, "/api/links?"+q, ""), http.StatusBadRequest)
	}
}

func TestProductCodeSurvivesLostStore(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	page := product(130)
	code := e.create(fmt.Sprintf(`{"url":%q}`, page), http.StatusCreated).ID
	if _, err := e.redis.Do("FLUSHALL"); err != nil {
		t.Fatalf("FLUSHALL: %v", err)
	}
	e2 := e.restart()
	checkRedirect(t, "GET /{product code} after FLUSHALL and a restart", e2.get("/"+code), e.platform.Link(page))
	apiError(t, "GET /api/links/{product code} after FLUSHALL", e2.api(http.MethodGet, "/api/links/"+code, ""), http.StatusNotFound)

	// One mistyped character anywhere is not another product: 404, not a redirect.
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	for i := range len(code) {
		for _, c := range []byte{alphabet[(strings.IndexByte(alphabet, code[i])+1)%62], alphabet[(strings.IndexByte(alphabet, code[i])+31)%62]} {
			typo := code[:i] + string(c) + code[i+1:]
			if r := e2.get("/" + typo); r.status != http.StatusNotFound {
				t.Errorf("GET /%s (one character off %s) = %s, want 404", typo, code, r)
			}
		}
	}
}

func TestAPIBadIDs(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	for _, id := range []string{"%7Bx%7D", "a%7Bb", strings.Repeat("x", 300), "ab", "has%20space", "admin"} {
		for _, method := range []string{http.MethodGet, http.MethodDelete} {
			apiError(t, method+" /api/links/"+truncate(id, 20), e.api(method, "/api/links/"+id, ""), http.StatusNotFound)
		}
		apiError(t, "PATCH /api/links/"+truncate(id, 20), e.api(http.MethodPatch, "/api/links/"+id, fmt.Sprintf(`{"url":%q}`, product(131))), http.StatusNotFound)
	}
}

// TestDecodeBodyStrict: the admin API reads JSON bodies by exact names, refuses duplicate names, unknown
// names and trailing data with 400, and bodies over 64 KiB with 413; each message names what is wrong.
func TestDecodeBodyStrict(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	const page = `"https://www.aliexpress.com/item/1005001000000001.html"`
	id := e.create(`{"url":`+page+`,"slug":"strict-json"}`, http.StatusCreated).ID
	tests := []struct {
		name, body string
		want       int
		msg        string // in the error message
	}{
		{"key in upper case", `{"URL":` + page + `}`, http.StatusBadRequest, `unknown field "URL"`},
		{"key in mixed case", `{"Url":` + page + `}`, http.StatusBadRequest, `unknown field "Url"`},
		{"slug key in another case", `{"url":` + page + `,"SLUG":"abc-def"}`, http.StatusBadRequest, `unknown field "SLUG"`},
		{"duplicate key", `{"url":` + page + `,"url":"https://www.aliexpress.com/item/1005001000000002.html"}`, http.StatusBadRequest, `duplicate field "url"`},
		{"duplicate key, same value", `{"url":` + page + `,"url":` + page + `}`, http.StatusBadRequest, `duplicate field "url"`},
		{"duplicate key spelled with an escape", `{"url":` + page + `,"\u0075rl":` + page + `}`, http.StatusBadRequest, `duplicate field "url"`},
		{"unknown field", `{"url":` + page + `,"note":"x"}`, http.StatusBadRequest, `unknown field "note"`},
		{"trailing object", `{"url":` + page + `} {}`, http.StatusBadRequest, "after the JSON object"},
		{"trailing garbage", `{"url":` + page + `}x`, http.StatusBadRequest, "after the JSON object"},
		{"empty body", ``, http.StatusBadRequest, "body must be a JSON object"},
		{"not an object", page, http.StatusBadRequest, "malformed JSON body"},
		{"malformed", `{"url":`, http.StatusBadRequest, "malformed JSON body"},
		{"too big", `{"url":` + page + `,"slug":"` + strings.Repeat("a", 70<<10) + `"}`, http.StatusRequestEntityTooLarge, "larger than 64 KiB"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, req := range []struct{ method, path string }{
				{http.MethodPost, "/api/links"},
				{http.MethodPatch, "/api/links/" + id},
			} {
				what := req.method + " " + req.path + " " + truncate(tc.body, 100)
				msg := apiError(t, what, e.api(req.method, req.path, tc.body), tc.want)
				if !strings.Contains(msg, tc.msg) {
					t.Errorf("%s: error %q, want it to contain %q", what, msg, tc.msg)
				}
			}
		})
	}
	if l := e.create(`{"url":`+page+`}`, http.StatusCreated); l.Target != product(1) {
		t.Errorf("POST /api/links with exact names = target %q, want %q", l.Target, product(1))
	}
}

// TestFailTable: every /api/ error answers through one table: input a client can correct 400 with its
// reason, no such link 404, a taken id 409 with the caller's words, anything unknown 503 and a log line.
func TestFailTable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		err    error
		status int
		msg    string
		logged bool
	}{
		{"invalid", link.Invalid("slug is reserved"), http.StatusBadRequest, "slug is reserved", false},
		{"invalid wrapped", fmt.Errorf("create: %w", link.Invalid("url is required")), http.StatusBadRequest, "create: url is required", false},
		{"not found", fmt.Errorf("retarget x: %w", link.ErrNotFound), http.StatusNotFound, "no such link", false},
		{"exists", fmt.Errorf("create x: %w", link.ErrExists), http.StatusConflict, "slug is already taken", false},
		{"bad cursor", link.ErrBadCursor, http.StatusBadRequest, "cursor is not one this API gave out", false},
		{"no free id", shortlink.ErrNoFreeID, http.StatusServiceUnavailable, "could not draw a free id: try again", false},
		{"store", errors.New("dial tcp: connection refused"), http.StatusServiceUnavailable, "the store is not answering: try again", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var logs strings.Builder
			w := httptest.NewRecorder()
			fail(w, Deps{Logger: slog.New(slog.NewTextHandler(&logs, nil))}, tc.err, "slug is already taken")
			var body struct {
				Error string `json:"error"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || w.Code != tc.status || body.Error != tc.msg {
				t.Errorf("fail(%v) = %d %q, want %d %q", tc.err, w.Code, w.Body, tc.status, tc.msg)
			}
			if got := logs.Len() > 0; got != tc.logged {
				t.Errorf("fail(%v) logged %q, want a log line: %v", tc.err, logs.String(), tc.logged)
			}
		})
	}
}
