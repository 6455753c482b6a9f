package redirect

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
)

func TestLabels(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	l := e.create(`{"url":"`+product(720)+`","labels":[" Summer 2026 ","summer 2026","Flyer",""]}`, http.StatusCreated)
	if !slices.Equal(l.Labels, []string{"Summer 2026", "Flyer"}) {
		t.Fatalf("POST labels = %q, want [Summer 2026 Flyer]", l.Labels)
	}
	get := func() linkReply {
		t.Helper()
		var got linkReply
		decode(t, e.api(http.MethodGet, "/api/links/"+l.ID, ""), &got)
		return got
	}
	if got := get(); !slices.Equal(got.Labels, l.Labels) {
		t.Fatalf("GET labels = %q, want %q", got.Labels, l.Labels)
	}
	patch := func(body string, want []string) {
		t.Helper()
		r := e.api(http.MethodPatch, "/api/links/"+l.ID, body)
		var got linkReply
		if r.status != http.StatusOK {
			t.Fatalf("PATCH %s = %s, want 200", body, r)
		}
		decode(t, r, &got)
		if !slices.Equal(got.Labels, want) || !slices.Equal(get().Labels, want) {
			t.Fatalf("PATCH %s: labels %q, stored %q; want %q", body, got.Labels, get().Labels, want)
		}
	}
	patch(`{"labels":["Winter","Posters"]}`, []string{"Winter", "Posters"})
	patch(`{"url":"`+product(721)+`"}`, []string{"Winter", "Posters"}) // a new target keeps them
	patch(`{"labels":[]}`, []string{})
	patch(`{"labels":["again"]}`, []string{"again"})
	patch(`{"labels":null}`, []string{})

	// A link made without labels has [] (never null).
	if r := e.api(http.MethodPost, "/api/links", `{"url":"`+product(722)+`"}`); !strings.Contains(string(r.body), `"labels":[]`) {
		t.Errorf("POST without labels = %s, want \"labels\":[]", r)
	}

	for _, tc := range []struct{ method, path, body, says string }{
		{http.MethodPost, "/api/links", `{"url":"` + product(723) + `","labels":["a\u0007b"]}`, "control character"},
		{http.MethodPost, "/api/links", `{"url":"` + product(723) + `","labels":["` + strings.Repeat("x", 65) + `"]}`, "at most 64"},
		{http.MethodPost, "/api/links", `{"url":"` + product(723) + `","labels":["1","2","3","4","5","6","7","8","9","10","11"]}`, "at most 10"},
		{http.MethodPost, "/api/links", `{"url":"` + product(723) + `","labels":"flyer"}`, "labels"},
		{http.MethodPatch, "/api/links/" + l.ID, `{"labels":"flyer"}`, "labels must be an array"},
		{http.MethodPatch, "/api/links/" + l.ID, `{"labels":[1]}`, "labels must be an array"},
		{http.MethodPatch, "/api/links/" + l.ID, `{"labels":["ok","bad\nline"],"url":"` + product(724) + `"}`, "control character"},
	} {
		msg := apiError(t, tc.method+" "+tc.body, e.api(tc.method, tc.path, tc.body), http.StatusBadRequest)
		if !strings.Contains(msg, tc.says) {
			t.Errorf("%s %s: %q, want it to say %q", tc.method, tc.body, msg, tc.says)
		}
	}
	// Nothing of a refused PATCH was written.
	if got := get(); len(got.Labels) != 0 || got.Target != product(721) {
		t.Errorf("after refused patches: labels %q target %s, want none and %s", got.Labels, got.Target, product(721))
	}

	// The export keeps them.
	e.api(http.MethodPatch, "/api/links/"+l.ID, `{"labels":["Export me"]}`)
	r := e.api(http.MethodGet, "/api/export", "")
	found := false
	for _, line := range strings.Split(strings.TrimSpace(string(r.body)), "\n") {
		var x ExportLine
		if err := json.Unmarshal([]byte(line), &x); err != nil {
			t.Fatalf("export line %s: %v", line, err)
		}
		if x.ID == l.ID {
			found = slices.Equal(x.Labels, []string{"Export me"})
		}
	}
	if !found {
		t.Errorf("GET /api/export = %s, want %s with labels [Export me]", r.body, l.ID)
	}
}
