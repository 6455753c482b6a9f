package redirect

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"testing"
)

// pasteTests are the punctuation a sentence leaves on a URL, and the warning the API gives for it.
var pasteTests = []struct {
	name, suffix, warning string
}{
	{"comma", ",", `removed trailing "," pasted with the URL`},
	{"period", ".", `removed trailing "." pasted with the URL`},
	{"semicolon", ";", `removed trailing ";" pasted with the URL`},
	{"parenthesis", ")", `removed trailing ")" pasted with the URL`},
	{"bracket", "]", `removed trailing "]" pasted with the URL`},
	{"angle bracket", ">", `removed trailing ">" pasted with the URL`},
	{"double quote", `"`, `removed trailing "\"" pasted with the URL`},
	{"single quote", "'", `removed trailing "'" pasted with the URL`},
	{"typographic quote", "\u201d", "removed trailing \"\u201d\" pasted with the URL"},
	{"parenthesis and period", ").", `removed trailing ")." pasted with the URL`},
}

// urlJSON is the JSON body {"url": u}.
func urlJSON(t testing.TB, u string) string {
	t.Helper()
	b, err := json.Marshal(map[string]string{"url": u})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestCreateTrailingPunctuation: punctuation pasted with a product URL is not part of it: the link is the
// product's, and the answer says what was removed.
func TestCreateTrailingPunctuation(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	for i, tc := range pasteTests {
		t.Run(tc.name, func(t *testing.T) {
			page := product(60 + i)
			want := mustProductCode(t, productID(60+i))
			body := urlJSON(t, page+tc.suffix)
			l := e.create(body, http.StatusCreated)
			if l.ID != want || l.Target != page || !slices.Equal(l.Warnings, []string{tc.warning}) {
				t.Errorf("POST /api/links %s = id %q target %q warnings %q; want %q, %q, [%q]", body, l.ID, l.Target, l.Warnings, want, page, tc.warning)
			}
			again := e.create(fmt.Sprintf(`{"url":%q}`, page), http.StatusOK)
			if again.ID != want || again.Warnings == nil || len(again.Warnings) != 0 {
				t.Errorf("POST /api/links %s again without punctuation = id %q warnings %#v; want %q and warnings []", page, again.ID, again.Warnings, want)
			}
		})
	}

	id := e.create(fmt.Sprintf(`{"url":%q,"slug":"pasted"}`, product(80)), http.StatusCreated).ID
	r := e.api(http.MethodPatch, "/api/links/"+id, urlJSON(t, product(81)+","))
	var l linkReply
	decode(t, r, &l)
	if r.status != http.StatusOK || l.Target != product(81) || !slices.Equal(l.Warnings, []string{`removed trailing "," pasted with the URL`}) {
		t.Errorf("PATCH /api/links/%s with a trailing comma = %s; want 200, target %q and a warning", id, r, product(81))
	}
	var got linkReply
	if decode(t, e.api(http.MethodGet, "/api/links/"+id, ""), &got); got.Warnings != nil {
		t.Errorf("GET /api/links/%s has warnings %q; want none (they answer POST and PATCH)", id, got.Warnings)
	}
}

// TestGoTrailingPunctuation: /go of a product URL with pasted punctuation goes to the product.
func TestGoTrailingPunctuation(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	page := product(90)
	for _, tc := range []struct{ name, query string }{
		{"encoded comma", "u=" + url.QueryEscape(page+",")},
		{"encoded typographic quote", "u=" + url.QueryEscape(page+"\u201d")},
		{"literal comma", "u=" + page + ","},
		{"literal parenthesis and period", "u=" + page + ")."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkRedirect(t, "GET /go?"+tc.query, e.get("/go?"+tc.query), e.platform.Link(page))
		})
	}
	if got := e.platform.SourceValues(); !slices.Equal(got, []string{page}) {
		t.Errorf("platform was asked for %q, want [%q] once", got, page)
	}
}
