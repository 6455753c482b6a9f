package redirect

import (
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redirector/redirector/internal/metrics"
)

// middleware is what every request goes through, folded into one wrapper so that a click pays for
// one call and one deferred recover, not a chain:
//   - a handler panic becomes a 500, a log line and metrics.Panics; the process lives on;
//   - answers get an X-Request-Id: a sane id sent by the caller (a proxy) is echoed on every route,
//     at no cost; where none came, the admin API and console get a process-unique one; redirects do
//     not, since they log nothing per request at info level and the hot path must not allocate for it;
//   - each request is logged at debug level; when debug is off that costs one check.
func middleware(logger *slog.Logger, m *metrics.Metrics, next http.Handler) http.Handler {
	prefix := strconv.FormatInt(time.Now().UnixNano()%1e9, 36) + "-"
	var seq atomic.Uint64 // numbers the requests that get a generated id
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				m.Panics.Inc()
				logger.Error("panic", "method", r.Method, "path", r.URL.Path, "panic", v)
				http.Error(w, "internal error", http.StatusInternalServerError)
			}
		}()
		if in := r.Header["X-Request-Id"]; len(in) == 1 && len(in[0]) > 0 && len(in[0]) <= 64 && printable(in[0]) {
			w.Header()["X-Request-Id"] = in
		} else if isAPI(r.URL.Path) || strings.HasPrefix(r.URL.Path, "/admin") {
			var buf [32]byte
			b := append(buf[:0], prefix...)
			w.Header()["X-Request-Id"] = []string{string(strconv.AppendUint(b, seq.Add(1), 36))}
		}
		if !logger.Enabled(r.Context(), slog.LevelDebug) {
			next.ServeHTTP(w, r)
			return
		}
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		logger.Debug("request", "method", r.Method, "path", r.URL.Path, "status", sw.status,
			"duration", time.Since(start), "request_id", w.Header().Get("X-Request-Id"))
	})
}

// printable reports whether s is visible ASCII, safe to echo in a header and a log.
func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// statusWriter remembers the status a handler answered.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }
