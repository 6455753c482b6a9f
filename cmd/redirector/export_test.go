package main

import (
	"bytes"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/redirector/redirector/internal/redistest"
)

// TestExportFromEmbeddedStoreToRedis moves the records of a process running on the embedded store
// (-dev) to a Redis: export -from its /api/export, then import.
func TestExportFromEmbeddedStoreToRedis(t *testing.T) {
	t.Parallel()
	const token = "export-test-token"
	s := startRun(t, []string{"-dev"}, []string{"ADMIN_TOKEN=" + token})
	for _, body := range []string{
		`{"url":"https://www.aliexpress.com/item/1005001234567890.html"}`,
		`{"url":"https://www.aliexpress.com/store/912345","slug":"my-shop"}`,
		`{"url":"https://www.aliexpress.com/store/912346","slug":"old-shop"}`,
	} {
		if r := s.do(t, http.MethodPost, "/api/links", body, token); r.status != http.StatusCreated {
			t.Fatalf("POST /api/links %s = %d %s, want 201", body, r.status, r.body)
		}
	}
	if r := s.do(t, http.MethodDelete, "/api/links/old-shop", "", token); r.status != http.StatusNoContent {
		t.Fatalf("DELETE /api/links/old-shop = %d, want 204", r.status)
	}
	if r := s.do(t, http.MethodGet, "/api/export", "", ""); r.status != http.StatusUnauthorized {
		t.Errorf("GET /api/export without a token = %d, want 401", r.status)
	}

	var dump, stderr bytes.Buffer
	if err := run(t.Context(), []string{"export", "-from", s.base}, []string{"ADMIN_TOKEN=" + token}, strings.NewReader(""), &dump, &stderr); err != nil {
		t.Fatalf("export -from %s: %v; stderr: %s", s.base, err, stderr.String())
	}
	if n := strings.Count(dump.String(), "\n"); n != 3 {
		t.Fatalf("export -from wrote %d lines, want 3 (two links and a tombstone):\n%s", n, dump.String())
	}
	if err := run(t.Context(), []string{"export", "-from", s.base}, []string{"ADMIN_TOKEN=wrong"}, strings.NewReader(""), &bytes.Buffer{}, &bytes.Buffer{}); err == nil {
		t.Error("export -from with a wrong token: err = nil, want an error")
	}

	rs := redistest.Start(t)
	if err := run(t.Context(), []string{"import"}, []string{"REDIS_URL=" + rs.URL}, &dump, &bytes.Buffer{}, &stderr); err != nil {
		t.Fatalf("import: %v; stderr: %s", err, stderr.String())
	}
	got := map[string]bool{}
	for _, rec := range allRecords(t, rs) {
		got[rec.ID] = rec.Deleted
	}
	want := map[string]bool{"4bNbq4b6AY": false, "my-shop": false, "old-shop": true}
	for id, deleted := range want {
		if d, ok := got[id]; !ok || d != deleted {
			t.Errorf("after import, record %s present=%v deleted=%v; want present, deleted=%v", id, ok, d, deleted)
		}
	}
	if len(got) != len(want) {
		t.Errorf("after import, %d records, want %d: %v", len(got), len(want), got)
	}
}

// TestExportImportCarriesPages: bio pages travel with the links, as {"kind":"page"} lines after
// them, and come back whole; a bad page line refuses the whole file.
func TestExportImportCarriesPages(t *testing.T) {
	t.Parallel()
	const token = "export-pages-token"
	s := startRun(t, []string{"-dev"}, []string{"ADMIN_TOKEN=" + token})
	if r := s.do(t, http.MethodPost, "/api/pages", `{"handle":"Mia.Picks","title":"Mia","text":"Finds","avatar":"MP","items":[
		{"heading":"Desk"},{"url":"https://www.aliexpress.com/item/1005001234567890.html","caption":"Lamp"}]}`, token); r.status != http.StatusCreated {
		t.Fatalf("POST /api/pages = %d %s, want 201", r.status, r.body)
	}
	var dump, stderr bytes.Buffer
	if err := run(t.Context(), []string{"export", "-from", s.base}, []string{"ADMIN_TOKEN=" + token}, strings.NewReader(""), &dump, &stderr); err != nil {
		t.Fatalf("export -from: %v; stderr: %s", err, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(dump.String()), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[1], `{"kind":"page","page":{"handle":"Mia.Picks"`) {
		t.Fatalf("export = %q, want the lamp's link, then the page", lines)
	}

	rs := redistest.Start(t)
	environ := []string{"REDIS_URL=" + rs.URL}
	if err := run(t.Context(), []string{"import"}, environ, strings.NewReader(dump.String()), &bytes.Buffer{}, &stderr); err != nil {
		t.Fatalf("import: %v; stderr: %s", err, stderr.String())
	}
	again := exportLines(t, environ)
	want := append([]string(nil), lines...)
	slices.Sort(want)
	if !slices.Equal(again, want) {
		t.Errorf("export after import:\n%s\nwant:\n%s", strings.Join(again, "\n"), strings.Join(want, "\n"))
	}

	// A page line that is not a valid page writes nothing, links included.
	rs2 := redistest.Start(t)
	bad := lines[0] + "\n" + strings.Replace(lines[1], `"handle":"Mia.Picks"`, `"handle":"M"`, 1) + "\n"
	err := run(t.Context(), []string{"import"}, []string{"REDIS_URL=" + rs2.URL}, strings.NewReader(bad), &bytes.Buffer{}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "line 2:") || !strings.Contains(err.Error(), "handle") {
		t.Errorf("import of a bad page line = %v, want an error naming line 2 and the handle", err)
	}
	if n := dbSize(t, rs2); n != "0" {
		t.Errorf("keys after a refused import = %s, want 0", n)
	}
}
