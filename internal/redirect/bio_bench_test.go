package redirect

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkBioPageCached is a person's view of a bio page of 20 items whose render is kept: a
// lookup and a counted view, not a rendering. Compare it with BenchmarkBaseline.
func BenchmarkBioPageCached(b *testing.B) {
	e := newEnv(b, envOptions{})
	items := ""
	for i := range 20 {
		e.setProduct(1900+i, "Folding desk lamp")
		if i > 0 {
			items += ","
		}
		items += `{"url":"` + product(1900+i) + `","caption":"A pick"}`
	}
	if r := e.api(http.MethodPost, "/api/pages", `{"handle":"bench","title":"Bench","items":[`+items+`]}`); r.status != http.StatusCreated {
		b.Fatalf("POST /api/pages = %v", r)
	}
	req := httptest.NewRequest(http.MethodGet, "/@bench", nil)
	req.Header.Set("User-Agent", chromeUA)
	w := &benchWriter{h: make(http.Header)}
	e.handler.ServeHTTP(w, req) // the first view renders
	if w.status != http.StatusOK {
		b.Fatalf("GET /@bench = %d, want 200", w.status)
	}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		w.status = 0
		e.handler.ServeHTTP(w, req)
		if w.status != http.StatusOK {
			b.Fatalf("GET /@bench = %d, want 200", w.status)
		}
	}
}
