package redirect

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/redirector/redirector/internal/metrics"
)

func TestMiddlewareRequestID(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, path, sent string
		want             string // "": no X-Request-Id; "generated": one of ours
	}{
		{"echoed on a click", "/go?u=x", "edge-42", "edge-42"},
		{"echoed on the api", "/api/links", "edge-43", "edge-43"},
		{"none on a click", "/go?u=x", "", ""},
		{"generated on the api", "/api/links", "", "generated"},
		{"generated on the console", "/admin", "", "generated"},
		{"unprintable not echoed", "/spring-sale", "a b", ""},
		{"too long not echoed", "/spring-sale", strings.Repeat("x", 65), ""},
	}
	h := middleware(nilLogger(), metrics.New(), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusFound)
	}))
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, tc.path, nil)
			if tc.sent != "" {
				req.Header.Set("X-Request-Id", tc.sent)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			got := w.Header().Get("X-Request-Id")
			switch {
			case tc.want == "generated" && (got == "" || got == tc.sent):
				t.Errorf("GET %s with X-Request-Id %q: X-Request-Id = %q, want a generated one", tc.path, tc.sent, got)
			case tc.want != "generated" && got != tc.want:
				t.Errorf("GET %s with X-Request-Id %q: X-Request-Id = %q, want %q", tc.path, tc.sent, got, tc.want)
			}
		})
	}
}

func TestMiddlewareAccessLog(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		level slog.Level
		want  string // "": nothing logged
	}{
		{"debug", slog.LevelDebug, `"msg":"request","method":"GET","path":"/spring-sale","status":302`},
		{"info", slog.LevelInfo, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			logger := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: tc.level}))
			h := middleware(logger, metrics.New(), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusFound)
			}))
			req := httptest.NewRequest(http.MethodGet, "/spring-sale", nil)
			req.Header.Set("X-Request-Id", "edge-44")
			h.ServeHTTP(httptest.NewRecorder(), req)
			got := buf.String()
			if tc.want == "" && got != "" {
				t.Errorf("at %v logged %q, want nothing", tc.level, got)
			}
			if tc.want != "" && (!strings.Contains(got, tc.want) || !strings.Contains(got, `"request_id":"edge-44"`)) {
				t.Errorf("at %v logged %q, want %s with request_id edge-44", tc.level, got, tc.want)
			}
		})
	}
}

// BenchmarkMiddleware is the cost of the wrapper every request goes through, at info level.
func BenchmarkMiddleware(b *testing.B) {
	h := middleware(nilLogger(), metrics.New(), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusFound)
	}))
	benchRedirect(b, h, "/spring-sale")
}
