package main

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestHandler(t *testing.T) {
	tests := []struct{ name, method, target string }{
		{"go", http.MethodGet, "/go?u=https%3A%2F%2Fwww.aliexpress.com%2Fitem%2F1005001234567890.html"},
		{"id", http.MethodGet, "/AbC123"},
		{"head", http.MethodHead, "/"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			handler().ServeHTTP(rec, httptest.NewRequest(tc.method, tc.target, nil))
			if rec.Code != http.StatusFound || rec.Header().Get("Location") != Location {
				t.Errorf("%s %s = %d, Location %q; want 302, %q", tc.method, tc.target, rec.Code, rec.Header().Get("Location"), Location)
			}
			if got := rec.Header().Get("Cache-Control"); got != "private, no-store, max-age=0" {
				t.Errorf("%s %s: Cache-Control %q, want the service's", tc.method, tc.target, got)
			}
		})
	}
}

func TestNewServer(t *testing.T) {
	tests := []struct {
		name     string
		hardened bool
		want     *http.Server
	}{
		{"bare", false, &http.Server{ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 120 * time.Second}},
		{"hardened", true, &http.Server{
			ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, WriteTimeout: 14 * time.Second,
			IdleTimeout: 120 * time.Second, MaxHeaderBytes: 16 << 10,
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newServer(tc.hardened)
			got := [5]any{s.ReadHeaderTimeout, s.ReadTimeout, s.WriteTimeout, s.IdleTimeout, s.MaxHeaderBytes}
			want := [5]any{tc.want.ReadHeaderTimeout, tc.want.ReadTimeout, tc.want.WriteTimeout, tc.want.IdleTimeout, tc.want.MaxHeaderBytes}
			if got != want || s.Handler == nil {
				t.Errorf("newServer(%v): header, read, write, idle timeouts and header bytes = %v, want %v", tc.hardened, got, want)
			}
		})
	}
}
