package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redirector/redirector/internal/affiliate/affiliatetest"
	"github.com/redirector/redirector/internal/clocktest"
	"github.com/redirector/redirector/internal/link"
	"github.com/redirector/redirector/internal/redistest"
	"github.com/redirector/redirector/internal/store"
)

// e2eUA is a person's browser, whose clicks count.
const e2eUA = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15"

// e2eToken is the admin token the end-to-end tests configure.
const e2eToken = "e2e-admin-token-Zx81"

// lockedBuffer is an io.Writer that run's goroutines and the test may share.
type lockedBuffer struct {
	mu  sync.Mutex // guards buf
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// e2eService is one call of run serving on a free port.
type e2eService struct {
	base           string
	stdout, stderr *lockedBuffer
	cancel         context.CancelFunc
	done           chan error
	client         *http.Client
}

// freeAddr returns a 127.0.0.1 address that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startRun calls run with args and environ (plus LISTEN_ADDR and BASE_URL on a free port, and a
// DATA_DIR of the test's own unless environ names one, so that nothing is written into the repository)
// and waits until /healthz answers. The test ends it with stop; a test that fails first has it stopped
// anyway.
func startRun(t *testing.T, args, environ []string) *e2eService {
	t.Helper()
	addr := freeAddr(t)
	s := &e2eService{
		base:   "http://" + addr,
		stdout: &lockedBuffer{},
		stderr: &lockedBuffer{},
		done:   make(chan error, 1),
		client: &http.Client{
			Timeout:       10 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
	environ = append(slices.Clone(environ), "LISTEN_ADDR="+addr, "BASE_URL="+s.base)
	if !slices.ContainsFunc(environ, func(kv string) bool { return strings.HasPrefix(kv, "DATA_DIR=") }) {
		// Each run its own DATA_DIR: the record mirror's file is locked by one process, and nothing
		// is written into the repository.
		environ = append(environ, "DATA_DIR="+t.TempDir())
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	go func() { s.done <- run(ctx, args, environ, strings.NewReader(""), s.stdout, s.stderr) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-s.done:
		case <-time.After(20 * time.Second):
			t.Errorf("run did not return within 20s of its context ending")
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case err := <-s.done:
			s.done <- err
			t.Fatalf("run returned before serving: %v\nstdout:\n%s\nstderr:\n%s", err, s.stdout, s.stderr)
		default:
		}
		resp, err := s.client.Get(s.base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET /healthz did not answer 200 within 15s (last error %v)\nstdout:\n%s", err, s.stdout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop ends run as a signal would and returns what run returned.
func (s *e2eService) stop(t *testing.T) error {
	t.Helper()
	s.cancel()
	select {
	case err := <-s.done:
		s.done <- err // for the cleanup
		return err
	case <-time.After(20 * time.Second):
		t.Fatalf("run did not return within 20s of its context ending")
		return nil
	}
}

// e2eReply is an answer read whole.
type e2eReply struct {
	status int
	header http.Header
	body   string
}

// do sends a request as a person's browser; token, when set, is sent as the bearer token.
func (s *e2eService) do(t *testing.T, method, path, body, token string) e2eReply {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, s.base+path, r)
	if err != nil {
		t.Fatalf("NewRequest: %v", err)
	}
	req.Header.Set("User-Agent", e2eUA)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return e2eReply{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

// platformEnviron is the configuration that points run at the fake platform p serves on apiURL.
func platformEnviron(p *affiliatetest.Platform, apiURL string) []string {
	cfg := p.Config()
	return []string{
		"ALIEXPRESS_APP_KEY=" + cfg.AppKey,
		"ALIEXPRESS_APP_SECRET=" + cfg.Secret,
		"ALIEXPRESS_TRACKING_ID=" + cfg.TrackingID,
		"ALIEXPRESS_API_URL=" + apiURL,
	}
}

func TestRunEndToEnd(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t)
	p, ps := affiliatetest.NewServer(affiliatetest.PlatformConfig{})
	t.Cleanup(ps.Close)
	environ := append(platformEnviron(p, ps.URL),
		"REDIS_URL="+rs.URL,
		"ADMIN_TOKEN="+e2eToken,
		"UPSTREAM_TIMEOUT=5s",
		"CLICK_FLUSH=1h", // only the shutdown's flush can write the clicks
		// Every click counts, one visitor's too: this test counts what the shutdown's flush writes
		// (one visitor counted once is internal/redirect's TestVisitorCountedOncePerWindow).
		"CLICK_DEDUP_WINDOW=0",
		"LOG_LEVEL=debug",
	)
	const page = "https://www.aliexpress.com/item/1005001234567890.html"
	s := startRun(t, nil, environ)

	r := s.do(t, http.MethodGet, "/go?u="+url.QueryEscape("https://m.aliexpress.com/item/1005001234567890.html?spm=a2g0o"), "", "")
	if r.status != http.StatusFound || r.header.Get("Location") != affiliatetest.Link(page) {
		t.Fatalf("GET /go = %d Location %q, want 302 to %q", r.status, r.header.Get("Location"), affiliatetest.Link(page))
	}
	if cc := r.header.Get("Cache-Control"); !strings.Contains(cc, "no-store") {
		t.Errorf("GET /go: Cache-Control %q, want no-store", cc)
	}

	r = s.do(t, http.MethodPost, "/api/links", `{"url":"`+page+`"}`, e2eToken)
	if r.status != http.StatusCreated {
		t.Fatalf("POST /api/links = %d %s, want 201", r.status, r.body)
	}
	var link struct {
		ID       string `json:"id"`
		ShortURL string `json:"short_url"`
	}
	if err := json.Unmarshal([]byte(r.body), &link); err != nil || link.ShortURL != s.base+"/"+link.ID {
		t.Fatalf("POST /api/links body %s (%v), want an id and short_url under BASE_URL", r.body, err)
	}
	for _, q := range []string{"", "", "", "?qr"} {
		if r := s.do(t, http.MethodGet, "/"+link.ID+q, "", ""); r.status != http.StatusFound || r.header.Get("Location") != affiliatetest.Link(page) {
			t.Fatalf("GET /%s%s = %d Location %q, want 302 to the affiliate link", link.ID, q, r.status, r.header.Get("Location"))
		}
	}

	// A click that waits for the platform when the shutdown begins is answered, not cut off.
	p.SetLatency(300 * time.Millisecond)
	calls := p.Calls()
	inflight := make(chan e2eReply, 1)
	go func() {
		inflight <- s.do(t, http.MethodGet, "/go?u="+url.QueryEscape("https://www.aliexpress.com/item/1005009999999999.html"), "", "")
	}()
	clocktest.WaitFor(t, "the click to reach the platform", func() bool { return p.Calls() > calls })
	if err := s.stop(t); err != nil {
		t.Fatalf("run after its context ended = %v, want nil\nstdout:\n%s", err, s.stdout)
	}
	if r := <-inflight; r.status != http.StatusFound || r.header.Get("Location") != affiliatetest.Link("https://www.aliexpress.com/item/1005009999999999.html") {
		t.Errorf("click in flight during shutdown = %d Location %q, want 302 to its affiliate link", r.status, r.header.Get("Location"))
	}
	p.SetLatency(0)
	out := s.stdout.String()
	if !strings.Contains(out, `"msg":"listening"`) || !strings.Contains(out, `"msg":"stopped"`) {
		t.Errorf("log has no listening and stopped lines:\n%s", out)
	}
	if secret := p.Config().Secret; strings.Contains(out+s.stderr.String(), secret) {
		t.Errorf("the app secret appears in the output")
	}

	// A second process over the same Redis: the clicks were flushed at shutdown, and the affiliate
	// link is still cached.
	calls = p.Calls()
	s2 := startRun(t, nil, environ)
	r = s2.do(t, http.MethodGet, "/api/links/"+link.ID, "", e2eToken)
	var stats struct {
		Clicks int64 `json:"clicks"`
		Scans  int64 `json:"scans"`
	}
	if err := json.Unmarshal([]byte(r.body), &stats); err != nil || r.status != http.StatusOK || stats.Clicks != 4 || stats.Scans != 1 {
		t.Errorf("GET /api/links/%s after a restart = %d %s, want clicks 4 and scans 1", link.ID, r.status, r.body)
	}
	if r := s2.do(t, http.MethodGet, "/go?u="+url.QueryEscape(page), "", ""); r.status != http.StatusFound || r.header.Get("Location") != affiliatetest.Link(page) {
		t.Errorf("GET /go after a restart = %d Location %q, want 302 to %q", r.status, r.header.Get("Location"), affiliatetest.Link(page))
	}
	if got := p.Calls(); got != calls {
		t.Errorf("platform calls after a restart = %d, want %d (the link is cached in Redis)", got, calls)
	}
	if r := s2.do(t, http.MethodGet, "/readyz", "", ""); r.status != http.StatusOK {
		t.Errorf("GET /readyz = %d, want 200", r.status)
	}
	if err := s2.stop(t); err != nil {
		t.Errorf("second run = %v, want nil", err)
	}
}

func TestRunRefusesWithoutCredentials(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	err := run(t.Context(), nil, []string{"LISTEN_ADDR=" + freeAddr(t)}, strings.NewReader(""), &stdout, &stderr)
	var cfgErr *configError
	if !errors.As(err, &cfgErr) {
		t.Fatalf("run without credentials = %v, want a *configError", err)
	}
	for _, name := range []string{"ALIEXPRESS_APP_KEY", "ALIEXPRESS_APP_SECRET", "ALIEXPRESS_TRACKING_ID", "-dev"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("run without credentials = %q, want it to name %s", err, name)
		}
	}
	// One credential given: only the others are named.
	err = run(t.Context(), nil, []string{"ALIEXPRESS_APP_KEY=k"}, strings.NewReader(""), &stdout, &stderr)
	if err == nil || strings.Contains(err.Error(), "ALIEXPRESS_APP_KEY") || !strings.Contains(err.Error(), "ALIEXPRESS_TRACKING_ID") {
		t.Errorf("run with only the app key = %v, want the secret and tracking id named, not the key", err)
	}
}

func TestRunRefusesBadSettings(t *testing.T) {
	t.Parallel()
	good := []string{"ALIEXPRESS_APP_KEY=k", "ALIEXPRESS_APP_SECRET=s", "ALIEXPRESS_TRACKING_ID=t", "BASE_URL=https://go.example.com"}
	tests := []struct {
		name  string
		env   []string
		names []string // what the error must name
	}{
		{"link ttl not a duration", []string{"LINK_TTL=abc"}, []string{"LINK_TTL"}},
		{"negative ttl negative", []string{"NEGATIVE_TTL=-1m"}, []string{"NEGATIVE_TTL"}},
		{"upstream timeout zero", []string{"UPSTREAM_TIMEOUT=0s"}, []string{"UPSTREAM_TIMEOUT"}},
		{"base url ftp", []string{"BASE_URL=ftp://x"}, []string{"BASE_URL"}},
		{"base url without scheme", []string{"BASE_URL=go.example.com"}, []string{"BASE_URL"}},
		{"base url with query", []string{"BASE_URL=https://go.example.com/?a=1"}, []string{"BASE_URL"}},
		{"api url not http", []string{"ALIEXPRESS_API_URL=ftp://api.example"}, []string{"ALIEXPRESS_API_URL"}},
		{"batch size too big", []string{"BATCH_SIZE=51"}, []string{"BATCH_SIZE"}},
		{"batch size not a number", []string{"BATCH_SIZE=many"}, []string{"BATCH_SIZE"}},
		{"client rate not a number", []string{"CLIENT_RATE=fast"}, []string{"CLIENT_RATE"}},
		{"auth failures not a number", []string{"AUTH_FAILURES_PER_MINUTE=ten"}, []string{"AUTH_FAILURES_PER_MINUTE"}},
		{"cache size negative", []string{"CACHE_SIZE=-1"}, []string{"CACHE_SIZE"}},
		{"trusted proxy not an address", []string{"TRUSTED_PROXIES=10.0.0.0/8,proxy.local"}, []string{"TRUSTED_PROXIES"}},
		{"log level unknown", []string{"LOG_LEVEL=loud"}, []string{"LOG_LEVEL"}},
		{"debug address without a port", []string{"DEBUG_ADDR=localhost"}, []string{"DEBUG_ADDR"}},
		{"metrics address without a port", []string{"METRICS_ADDR=localhost"}, []string{"METRICS_ADDR"}},
		{"ipv6 prefix too short", []string{"CLIENT_IPV6_PREFIX=31"}, []string{"CLIENT_IPV6_PREFIX"}},
		{"ipv6 prefix too long", []string{"CLIENT_IPV6_PREFIX=129"}, []string{"CLIENT_IPV6_PREFIX"}},
		{"ipv6 prefix not a number", []string{"CLIENT_IPV6_PREFIX=/64"}, []string{"CLIENT_IPV6_PREFIX"}},
		{"dedup window negative", []string{"CLICK_DEDUP_WINDOW=-1h"}, []string{"CLICK_DEDUP_WINDOW"}},
		{"dedup window not a duration", []string{"CLICK_DEDUP_WINDOW=hour"}, []string{"CLICK_DEDUP_WINDOW"}},
		{"stats top zero", []string{"STATS_TOP=0"}, []string{"STATS_TOP"}},
		{"stats top too big", []string{"STATS_TOP=1001"}, []string{"STATS_TOP"}},
		{"webhook allow private not a bool", []string{"WEBHOOK_ALLOW_PRIVATE=maybe"}, []string{"WEBHOOK_ALLOW_PRIVATE"}},
		{"base url empty", []string{"BASE_URL="}, []string{"BASE_URL is required", "https://go.example.com"}},
		{"redis url not redis", []string{"REDIS_URL=http://127.0.0.1:1/0"}, []string{"REDIS_URL"}},
		{"several at once", []string{"LINK_TTL=abc", "BASE_URL=ftp://x", "CLICK_FLUSH=0s"}, []string{"LINK_TTL", "BASE_URL", "CLICK_FLUSH"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			environ := append(slices.Clone(good), "LISTEN_ADDR="+freeAddr(t))
			environ = append(environ, tc.env...)
			var stdout, stderr bytes.Buffer
			err := run(t.Context(), nil, environ, strings.NewReader(""), &stdout, &stderr)
			var cfgErr *configError
			if !errors.As(err, &cfgErr) {
				t.Fatalf("run with %q = %v, want a *configError", tc.env, err)
			}
			for _, name := range tc.names {
				if !strings.Contains(err.Error(), name) {
					t.Errorf("run with %q = %q, want it to name %s", tc.env, err, name)
				}
			}
			// The settings are named as the operator writes them, never as Go fields.
			if strings.Contains(err.Error(), "field") {
				t.Errorf("run with %q = %q, which names a Go field", tc.env, err)
			}
		})
	}
}

// Without -dev nothing guesses the public origin; in -dev it is the listener's port on localhost.
// The other settings take their documented defaults.
func TestLoadConfigDefaults(t *testing.T) {
	creds := []string{"ALIEXPRESS_APP_KEY=k", "ALIEXPRESS_APP_SECRET=s", "ALIEXPRESS_TRACKING_ID=t"}
	tests := []struct {
		name       string
		environ    []string
		dev        bool
		base       string // want; "" wants a *configError naming BASE_URL
		ipv6Prefix int
	}{
		{"no BASE_URL without -dev", creds, false, "", 64},
		{"no BASE_URL in -dev", nil, true, "http://localhost:8080", 64},
		{"no BASE_URL in -dev, another port", []string{"LISTEN_ADDR=127.0.0.1:9123"}, true, "http://localhost:9123", 64},
		{"BASE_URL in -dev", []string{"BASE_URL=https://go.example.com/"}, true, "https://go.example.com", 64},
		{"BASE_URL", append(slices.Clone(creds), "BASE_URL=https://go.example.com"), false, "https://go.example.com", 64},
		{"CLIENT_IPV6_PREFIX=48", []string{"CLIENT_IPV6_PREFIX=48"}, true, "http://localhost:8080", 48},
		{"CLIENT_IPV6_PREFIX=128", []string{"CLIENT_IPV6_PREFIX=128"}, true, "http://localhost:8080", 128},
		{"CLIENT_IPV6_PREFIX=32", []string{"CLIENT_IPV6_PREFIX=32"}, true, "http://localhost:8080", 32},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := loadConfig(tc.environ, tc.dev)
			if tc.base == "" {
				var cfgErr *configError
				if !errors.As(err, &cfgErr) || !strings.Contains(err.Error(), "BASE_URL is required") {
					t.Fatalf("loadConfig(%q, dev=%v) = %v, want a *configError saying BASE_URL is required", tc.environ, tc.dev, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("loadConfig(%q, dev=%v) = %v", tc.environ, tc.dev, err)
			}
			if cfg.BaseURL != tc.base || cfg.IPv6Prefix != tc.ipv6Prefix {
				t.Errorf("loadConfig(%q, dev=%v): BASE_URL %q, CLIENT_IPV6_PREFIX %d; want %q, %d", tc.environ, tc.dev, cfg.BaseURL, cfg.IPv6Prefix, tc.base, tc.ipv6Prefix)
			}
		})
	}
}

func TestRunUsage(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"serve"}, {"-nosuchflag"}, {"export", "extra"}, {"import", "extra"}, {"import", "-nosuchflag"}, {"healthcheck", "extra"}} {
		var stdout, stderr bytes.Buffer
		err := run(t.Context(), args, []string{"REDIS_URL=redis://127.0.0.1:1/0"}, strings.NewReader(""), &stdout, &stderr)
		var usage usageError
		if !errors.As(err, &usage) {
			t.Errorf("run(%q) = %v, want a usageError", args, err)
		}
	}
}

// TestRunHelp: help lists every command, healthcheck included (the compose file runs it), and every
// command answers -h and --help with its usage and no error (exit status 0), as Go's flag package does.
func TestRunHelp(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	if err := run(t.Context(), []string{"help"}, nil, strings.NewReader(""), &stdout, &stderr); err != nil {
		t.Errorf("run(help) = %v, want nil; stderr: %s", err, stderr.String())
	}
	for _, cmd := range []string{"redirector [-dev]", "redirector export", "redirector import", "redirector healthcheck", "redirector help"} {
		if !strings.Contains(stdout.String(), cmd) {
			t.Errorf("run(help) output does not list %q:\n%s", cmd, stdout.String())
		}
	}

	tests := []struct {
		name string
		args []string
		want string // in the usage
	}{
		{"server -h", []string{"-h"}, "-dev"},
		{"server --help", []string{"--help"}, "redirector healthcheck"},
		{"export -h", []string{"export", "-h"}, "-from"},
		{"export --help", []string{"export", "--help"}, "usage: redirector export"},
		{"import -h", []string{"import", "-h"}, "usage: redirector import"},
		{"import --help", []string{"import", "--help"}, "stdin"},
		{"healthcheck -h", []string{"healthcheck", "-h"}, "usage: redirector healthcheck"},
		{"healthcheck -help", []string{"healthcheck", "-help"}, "/healthz"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			// A configured but dead Redis: -h must answer before anything is opened.
			err := run(t.Context(), tc.args, []string{"REDIS_URL=redis://127.0.0.1:1/0"}, strings.NewReader(""), &stdout, &stderr)
			if err != nil {
				t.Fatalf("run(%q) = %v, want nil; stderr: %s", tc.args, err, stderr.String())
			}
			if out := stdout.String() + stderr.String(); !strings.Contains(out, tc.want) {
				t.Errorf("run(%q) printed %q, want usage containing %q", tc.args, out, tc.want)
			}
		})
	}
}

// TestMainExitCodes runs the test binary as the program (see TestMainProcess) and checks main's exit
// status: 2 for a configuration that cannot be served or a bad command line, with the reason on stderr.
func TestMainExitCodes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		args   []string
		env    []string
		stderr string
	}{
		{"no credentials", nil, nil, "ALIEXPRESS_APP_SECRET"},
		{"no base url", nil, []string{"ALIEXPRESS_APP_KEY=k", "ALIEXPRESS_APP_SECRET=s", "ALIEXPRESS_TRACKING_ID=t"}, "BASE_URL is required"},
		{"bad setting", nil, []string{"ALIEXPRESS_APP_KEY=k", "ALIEXPRESS_APP_SECRET=s", "ALIEXPRESS_TRACKING_ID=t", "BASE_URL=ftp://x"}, "BASE_URL"},
		{"unknown flag", []string{"-nosuchflag"}, nil, "nosuchflag"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], append([]string{"-test.run=^TestMainProcess$", "--"}, tc.args...)...)
			cmd.Env = append([]string{"REDIRECTOR_TEST_MAIN=1", "LISTEN_ADDR=" + freeAddr(t)}, tc.env...)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			err := cmd.Run()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 2 {
				t.Fatalf("redirector %q with %q: %v, want exit status 2; stderr:\n%s", tc.args, tc.env, err, stderr.String())
			}
			if !strings.Contains(stderr.String(), tc.stderr) {
				t.Errorf("stderr %q does not name %s", stderr.String(), tc.stderr)
			}
		})
	}
}

// TestMainProcess is the program itself when TestMainExitCodes runs the test binary.
func TestMainProcess(t *testing.T) {
	if os.Getenv("REDIRECTOR_TEST_MAIN") != "1" {
		t.Skip("run by TestMainExitCodes")
	}
	args := os.Args
	for i, a := range args {
		if a == "--" {
			args = args[i+1:]
			break
		}
	}
	os.Args = append([]string{"redirector"}, args...)
	main()
	os.Exit(0)
}

func TestRunDev(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir()
	s := startRun(t, []string{"-dev"}, []string{"DATA_DIR=" + dataDir})
	const page = "https://www.aliexpress.com/item/1005001234567890.html"
	r := s.do(t, http.MethodGet, "/go?u="+url.QueryEscape(page), "", "")
	loc := r.header.Get("Location")
	if r.status != http.StatusFound || !strings.HasPrefix(loc, page+"?") || !strings.Contains(loc, sandboxMarker+"=") {
		t.Fatalf("GET /go in -dev = %d Location %q, want 302 to the page marked %s", r.status, loc, sandboxMarker)
	}
	if !strings.Contains(s.stdout.String(), "embedded store") {
		t.Errorf("-dev log does not say the store is embedded:\n%s", s.stdout)
	}
	// The log and the banner name the file the links are kept in.
	path := filepath.Join(dataDir, store.EmbeddedFile)
	if !strings.Contains(s.stdout.String(), `"path":"`+path+`"`) || !strings.Contains(s.stdout.String(), "kept on disk") {
		t.Errorf("-dev log does not say the store is kept on disk in %s:\n%s", path, s.stdout)
	}
	if !strings.Contains(s.stderr.String(), "embedded store kept in "+path) {
		t.Errorf("-dev banner does not name %s:\n%s", path, s.stderr)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("-dev made no data file: %v", err)
	}
	m := regexp.MustCompile(`admin token:\s+([0-9a-f]{32})`).FindStringSubmatch(s.stderr.String())
	if m == nil {
		t.Fatalf("-dev printed no admin token:\n%s", s.stderr)
	}
	r = s.do(t, http.MethodPost, "/api/links", `{"url":"`+page+`"}`, m[1])
	if r.status != http.StatusCreated {
		t.Fatalf("POST /api/links with the printed token = %d %s, want 201", r.status, r.body)
	}
	var link struct{ ID string }
	if err := json.Unmarshal([]byte(r.body), &link); err != nil {
		t.Fatalf("POST /api/links body %q: %v", r.body, err)
	}
	if r := s.do(t, http.MethodGet, "/"+link.ID, "", ""); r.status != http.StatusFound || !strings.Contains(r.header.Get("Location"), sandboxMarker+"=") {
		t.Errorf("GET /%s in -dev = %d Location %q, want 302 to a sandbox link", link.ID, r.status, r.header.Get("Location"))
	}
	if err := s.stop(t); err != nil {
		t.Errorf("run -dev after its context ended = %v, want nil", err)
	}
}

// exportLines runs export against REDIS_URL and returns its lines.
func exportLines(t *testing.T, environ []string) []string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if err := run(t.Context(), []string{"export"}, environ, strings.NewReader(""), &stdout, &stderr); err != nil {
		t.Fatalf("export: %v; stderr: %s", err, stderr.String())
	}
	var lines []string
	sc := bufio.NewScanner(&stdout)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	slices.Sort(lines)
	return lines
}

// allRecords reads every record in the store, tombstones included, sorted by id.
func allRecords(t *testing.T, rs *redistest.Server) []link.Record {
	t.Helper()
	rdb, err := store.Connect(t.Context(), rs.URL, store.ConnectOptions{})
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer rdb.Close()
	var recs []link.Record
	if err := store.NewRecords(rdb).Each(t.Context(), func(r link.Record) error {
		recs = append(recs, r)
		return nil
	}); err != nil {
		t.Fatalf("read records: %v", err)
	}
	slices.SortFunc(recs, func(a, b link.Record) int { return strings.Compare(a.ID, b.ID) })
	return recs
}

// dbSize is the number of keys in the store.
func dbSize(t *testing.T, rs *redistest.Server) string {
	t.Helper()
	n, err := rs.Do("DBSIZE")
	if err != nil {
		t.Fatalf("DBSIZE: %v", err)
	}
	return n
}

func TestExportImport(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t)
	environ := []string{"REDIS_URL=" + rs.URL}
	rdb, err := store.Connect(t.Context(), rs.URL, store.ConnectOptions{})
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer rdb.Close()
	records := store.NewRecords(rdb)
	created := time.Date(2026, 1, 2, 3, 4, 5, 6_000_000, time.UTC)
	for i, rec := range []link.Record{
		{ID: "4bNbq4b6AY", Target: "https://www.aliexpress.com/item/1005001234567890.html"},
		{ID: "summer-sale", Target: "https://www.aliexpress.com/store/912345"},
		{ID: "aZ3kP9qX", Target: "https://www.aliexpress.us/item/3256801234567890.html?sku_id=12000012345678901"},
		{ID: "gone-link", Target: "https://aliexpress.ru/item/1005001234567891.html"},
	} {
		rec.Created = created.Add(time.Duration(i) * time.Minute)
		if err := records.Create(t.Context(), rec); err != nil {
			t.Fatalf("Create(%s): %v", rec.ID, err)
		}
	}
	if err := records.Delete(t.Context(), "gone-link", created.Add(time.Hour)); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := records.Retarget(t.Context(), "summer-sale", "https://www.aliexpress.com/store/912346", created.Add(2*time.Hour)); err != nil {
		t.Fatalf("Retarget: %v", err)
	}
	before := allRecords(t, rs)
	if len(before) != 4 {
		t.Fatalf("records before export = %d, want 4", len(before))
	}
	lines := exportLines(t, environ)
	if len(lines) != 4 {
		t.Fatalf("export wrote %d lines, want 4:\n%s", len(lines), strings.Join(lines, "\n"))
	}

	if _, err := rs.Do("FLUSHALL"); err != nil {
		t.Fatalf("FLUSHALL: %v", err)
	}
	dump := strings.Join(lines, "\n") + "\n"
	for i := range 2 {
		var stdout, stderr bytes.Buffer
		if err := run(t.Context(), []string{"import"}, environ, strings.NewReader(dump), &stdout, &stderr); err != nil {
			t.Fatalf("import %d: %v; stderr: %s", i+1, err, stderr.String())
		}
		after := allRecords(t, rs)
		if !slices.EqualFunc(after, before, func(a, b link.Record) bool {
			return a.ID == b.ID && a.Target == b.Target && a.Deleted == b.Deleted && a.Created.Equal(b.Created) && a.Updated.Equal(b.Updated)
		}) {
			t.Errorf("records after import %d:\n%+v\nwant:\n%+v", i+1, after, before)
		}
		if again := exportLines(t, environ); !slices.Equal(again, lines) {
			t.Errorf("export after import %d:\n%s\nwant:\n%s", i+1, strings.Join(again, "\n"), strings.Join(lines, "\n"))
		}
	}
	keys := dbSize(t, rs)
	var stdout, stderr bytes.Buffer
	if err := run(t.Context(), []string{"import"}, environ, strings.NewReader(dump), &stdout, &stderr); err != nil {
		t.Fatalf("import a third time: %v", err)
	}
	if got := dbSize(t, rs); got != keys {
		t.Errorf("keys after importing the same file again = %s, want %s", got, keys)
	}
}

func TestImportRejectsBadFile(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t)
	environ := []string{"REDIS_URL=" + rs.URL}
	good := `{"id":"summer-sale","target":"https://www.aliexpress.com/store/912345","created_at":"2026-01-02T03:04:05Z","updated_at":"2026-01-02T03:04:05Z"}`
	ahead := time.Now().UTC().Add(48 * time.Hour).Format(time.RFC3339)
	tests := []struct {
		name, line string
		msg        string // in the error, when set
	}{
		{"malformed json", `{"id":"abc-def",`, ""},
		{"other site", `{"id":"abc-def","target":"https://evil.example/","created_at":"2026-01-02T03:04:05Z","updated_at":"2026-01-02T03:04:05Z"}`, ""},
		{"not canonical", `{"id":"abc-def","target":"https://m.aliexpress.com/item/1005001234567890.html?spm=x","created_at":"2026-01-02T03:04:05Z","updated_at":"2026-01-02T03:04:05Z"}`, ""},
		{"share link", `{"id":"abc-def","target":"https://a.aliexpress.com/_mKx1a2B","created_at":"2026-01-02T03:04:05Z","updated_at":"2026-01-02T03:04:05Z"}`, ""},
		{"bad id", `{"id":"a{b}c","target":"https://www.aliexpress.com/store/912345","created_at":"2026-01-02T03:04:05Z","updated_at":"2026-01-02T03:04:05Z"}`, ""},
		{"reserved id", `{"id":"admin","target":"https://www.aliexpress.com/store/912345","created_at":"2026-01-02T03:04:05Z","updated_at":"2026-01-02T03:04:05Z"}`, ""},
		{"no times", `{"id":"abc-def","target":"https://www.aliexpress.com/store/912345"}`, ""},
		{"line too long", `{"id":"abc-def","target":"https://www.aliexpress.com/store/912345","x":"` + strings.Repeat("a", 70<<10) + `"}`, ""},
		{"updated_at in year 9999", `{"id":"abc-def","target":"https://www.aliexpress.com/store/912345","created_at":"2026-01-02T03:04:05Z","updated_at":"9999-01-01T00:00:00Z"}`, "updated_at 9999-01-01T00:00:00Z"},
		{"created_at in year 1", `{"id":"abc-def","target":"https://www.aliexpress.com/store/912345","created_at":"0001-01-02T00:00:00Z","updated_at":"2026-01-02T03:04:05Z"}`, "created_at 0001-01-02T00:00:00Z"},
		{"created_at before 2000", `{"id":"abc-def","target":"https://www.aliexpress.com/store/912345","created_at":"1999-12-31T23:59:59Z","updated_at":"2026-01-02T03:04:05Z"}`, "created_at 1999-12-31T23:59:59Z"},
		{"updated_at two days ahead", `{"id":"abc-def","target":"https://www.aliexpress.com/store/912345","created_at":"2026-01-02T03:04:05Z","updated_at":"` + ahead + `"}`, "updated_at " + ahead},
		{"key in another case", `{"ID":"abc-def","target":"https://www.aliexpress.com/store/912345","created_at":"2026-01-02T03:04:05Z","updated_at":"2026-01-02T03:04:05Z"}`, `unknown field "ID"`},
		{"deleted in another case", `{"id":"abc-def","target":"https://www.aliexpress.com/store/912345","created_at":"2026-01-02T03:04:05Z","updated_at":"2026-01-02T03:04:05Z","Deleted":true}`, `unknown field "Deleted"`},
		{"duplicate key", `{"id":"abc-def","id":"summer-sale","target":"https://www.aliexpress.com/store/912345","created_at":"2026-01-02T03:04:05Z","updated_at":"2026-01-02T03:04:05Z"}`, `duplicate field "id"`},
		{"negative clicks", `{"id":"abc-def","target":"https://www.aliexpress.com/store/912345","created_at":"2026-01-02T03:04:05Z","updated_at":"2026-01-02T03:04:05Z","clicks":-1}`, "clicks -1"},
		{"more scans than clicks", `{"id":"abc-def","target":"https://www.aliexpress.com/store/912345","created_at":"2026-01-02T03:04:05Z","updated_at":"2026-01-02T03:04:05Z","clicks":1,"scans":2}`, "scans are a part of clicks"},
		{"clicks not a number", `{"id":"abc-def","target":"https://www.aliexpress.com/store/912345","created_at":"2026-01-02T03:04:05Z","updated_at":"2026-01-02T03:04:05Z","clicks":"9"}`, ""},
		{"unknown key", `{"id":"abc-def","target":"https://www.aliexpress.com/store/912345","created_at":"2026-01-02T03:04:05Z","updated_at":"2026-01-02T03:04:05Z","note":"x"}`, `unknown field "note"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// The bad line comes after a good one: nothing at all may be written.
			var stdout, stderr bytes.Buffer
			err := run(t.Context(), []string{"import"}, environ, strings.NewReader(good+"\n"+tc.line+"\n"), &stdout, &stderr)
			if err == nil {
				t.Fatalf("import of a file with a bad line (%s) = nil, want an error", tc.name)
			}
			if !strings.Contains(err.Error(), "nothing was written") {
				t.Errorf("import error %q does not say nothing was written", err)
			}
			for _, want := range []string{"line 2:", tc.msg} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("import error %q, want it to contain %q", err, want)
				}
			}
			if n := dbSize(t, rs); n != "0" {
				t.Errorf("keys after a refused import = %s, want 0", n)
			}
		})
	}
	// Without REDIS_URL, export reads the embedded store in DATA_DIR, which must exist.
	var stdout, stderr bytes.Buffer
	missing := filepath.Join(t.TempDir(), "nowhere")
	if err := run(t.Context(), []string{"export"}, []string{"DATA_DIR=" + missing}, strings.NewReader(""), &stdout, &stderr); err == nil || !strings.Contains(err.Error(), "no embedded store at "+filepath.Join(missing, store.EmbeddedFile)) {
		t.Errorf("export without REDIS_URL from an empty DATA_DIR = %v, want an error naming the missing file", err)
	}
	if _, err := os.Stat(missing); err == nil {
		t.Errorf("export from a missing DATA_DIR made it")
	}
}

// TestImportReportsChanges: import says what it changed, not how many lines it read: a record is
// created, updated (an older one replaced), or unchanged (the stored one is as new or newer, so Put
// wrote nothing). Each step imports into the store the steps before left.
func TestImportReportsChanges(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t)
	environ := []string{"REDIS_URL=" + rs.URL}
	line := func(id, store, updated string) string {
		return fmt.Sprintf(`{"id":%q,"target":"https://www.aliexpress.com/store/%s","created_at":"2026-01-02T03:04:05Z","updated_at":%q}`, id, store, updated)
	}
	first := strings.Join([]string{
		line("shop-a", "912345", "2026-01-02T03:04:05Z"),
		line("shop-b", "912346", "2026-01-03T00:00:00Z"),
		line("shop-c", "912347", "2026-01-03T00:00:00Z"),
	}, "\n") + "\n"
	second := strings.Join([]string{
		line("shop-a", "912345", "2026-01-02T03:04:05Z"), // the same
		line("shop-b", "912356", "2026-01-04T00:00:00Z"), // newer: replaces
		line("shop-c", "912357", "2026-01-02T12:00:00Z"), // older: the stored one stays
		line("shop-d", "912348", "2026-01-02T03:04:05Z"), // new
	}, "\n") + "\n"
	tests := []struct {
		name, file, want string
	}{
		{"into an empty store", first, "3 records read: 3 created, 0 updated, 0 unchanged"},
		{"the same file again", first, "3 records read: 0 created, 0 updated, 3 unchanged"},
		{"new, newer, older and same records", second, "4 records read: 1 created, 1 updated, 2 unchanged"},
		{"that file again", second, "4 records read: 0 created, 0 updated, 4 unchanged"},
	}
	for _, tc := range tests {
		var stdout, stderr bytes.Buffer
		if err := run(t.Context(), []string{"import"}, environ, strings.NewReader(tc.file), &stdout, &stderr); err != nil {
			t.Fatalf("%s: import: %v; stderr: %s", tc.name, err, stderr.String())
		}
		if got := strings.TrimSpace(stderr.String()); got != tc.want {
			t.Errorf("%s: import said %q, want %q", tc.name, got, tc.want)
		}
	}
	want := map[string]string{"shop-a": "912345", "shop-b": "912356", "shop-c": "912347", "shop-d": "912348"}
	for _, rec := range allRecords(t, rs) {
		if !strings.HasSuffix(rec.Target, "/"+want[rec.ID]) {
			t.Errorf("after the imports, %s leads to %s, want store %s", rec.ID, rec.Target, want[rec.ID])
		}
	}
}

// TestImportTimeBounds: created_at and updated_at from 2000-01-01 to a day ahead are imported as given.
func TestImportTimeBounds(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t)
	environ := []string{"REDIS_URL=" + rs.URL}
	soon := time.Now().UTC().Add(23 * time.Hour).Truncate(time.Second)
	tests := []struct {
		name             string
		id               string
		created, updated time.Time
	}{
		{"the earliest", "since-2000", time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)},
		{"a clock a little ahead", "ahead-a-bit", soon, soon},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			line := fmt.Sprintf(`{"id":%q,"target":"https://www.aliexpress.com/store/912345","created_at":%q,"updated_at":%q}`,
				tc.id, tc.created.Format(time.RFC3339), tc.updated.Format(time.RFC3339))
			var stdout, stderr bytes.Buffer
			if err := run(t.Context(), []string{"import"}, environ, strings.NewReader(line+"\n"), &stdout, &stderr); err != nil {
				t.Fatalf("import %s: %v", line, err)
			}
			for _, rec := range allRecords(t, rs) {
				if rec.ID == tc.id && (!rec.Created.Equal(tc.created) || !rec.Updated.Equal(tc.updated)) {
					t.Errorf("imported %s: created %v, updated %v; want %v, %v", tc.id, rec.Created, rec.Updated, tc.created, tc.updated)
				}
			}
		})
	}
}

// DEBUG_ADDR serves Go's profiles there, and only there.
func TestDebugAddrServesProfiles(t *testing.T) {
	t.Parallel()
	debug := freeAddr(t)
	s := startRun(t, []string{"-dev"}, []string{"DEBUG_ADDR=" + debug})
	resp, err := s.client.Get("http://" + debug + "/debug/pprof/profile?seconds=1")
	if err != nil {
		t.Fatalf("GET the CPU profile: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	// A CPU profile is gzip-compressed protobuf.
	if resp.StatusCode != http.StatusOK || len(body) < 2 || body[0] != 0x1f || body[1] != 0x8b {
		t.Fatalf("GET the CPU profile = %d, %d bytes starting %q; want 200 and a gzip stream", resp.StatusCode, len(body), body[:min(len(body), 16)])
	}
	resp, err = s.client.Get(s.base + "/debug/pprof/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /debug/pprof/ on the service's own address = %d, want 404", resp.StatusCode)
	}
	if err := s.stop(t); err != nil {
		t.Errorf("run returned %v after a stop", err)
	}
}

// METRICS_ADDR serves the metrics there, and then not on the service's own address.
func TestMetricsAddr(t *testing.T) {
	t.Parallel()
	get := func(t *testing.T, client *http.Client, u string) (int, string) {
		t.Helper()
		resp, err := client.Get(u)
		if err != nil {
			t.Fatalf("GET %s: %v", u, err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	const metric = "redirector_platform_in_flight"
	t.Run("set", func(t *testing.T) {
		t.Parallel()
		metrics := freeAddr(t)
		s := startRun(t, []string{"-dev"}, []string{"METRICS_ADDR=" + metrics})
		if code, body := get(t, s.client, "http://"+metrics+"/metrics"); code != http.StatusOK || !strings.Contains(body, metric) {
			t.Errorf("GET /metrics on METRICS_ADDR = %d, %d bytes; want 200 with %s", code, len(body), metric)
		}
		if code, body := get(t, s.client, s.base+"/metrics"); code != http.StatusNotFound || strings.Contains(body, metric) {
			t.Errorf("GET /metrics on LISTEN_ADDR with METRICS_ADDR set = %d; want 404 without metrics", code)
		}
		if err := s.stop(t); err != nil {
			t.Errorf("run returned %v after a stop", err)
		}
	})
	t.Run("unset", func(t *testing.T) {
		t.Parallel()
		s := startRun(t, []string{"-dev"}, nil)
		if code, body := get(t, s.client, s.base+"/metrics"); code != http.StatusOK || !strings.Contains(body, metric) {
			t.Errorf("GET /metrics on LISTEN_ADDR without METRICS_ADDR = %d; want 200 with %s", code, metric)
		}
		if err := s.stop(t); err != nil {
			t.Errorf("run returned %v after a stop", err)
		}
	})
}
