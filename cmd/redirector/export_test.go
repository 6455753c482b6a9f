package main

import (
	"bytes"
	"net/http"
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
