package chaos

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redirector/redirector/internal/affiliate/affiliatetest"
	"github.com/redirector/redirector/internal/redistest"
)

// adminToken is the ADMIN_TOKEN every service in these tests is given.
const adminToken = "chaos-admin-token-Qv27"

// browserUA is a person's browser: its GETs of short links are counted as clicks.
const browserUA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"

// binPath is the redirector binary TestMain builds once for the package.
var binPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "chaos-redirector-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos: temporary directory:", err)
		os.Exit(1)
	}
	binPath = filepath.Join(dir, "redirector")
	args := []string{"build", "-o", binPath}
	if raceBinary {
		args = append(args, "-race")
	}
	args = append(args, "github.com/redirector/redirector/cmd/redirector")
	build := exec.Command("go", args...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "chaos: go %s: %v\n", strings.Join(args, " "), err)
		_ = os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// lockedBuffer is an io.Writer that a child process's output goroutines and the test share.
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

// fixture is what a scenario's services run against: a redis-server and the fake platform, and
// the configuration that points a service at them.
type fixture struct {
	redis    *redistest.Server
	platform *affiliatetest.Platform
	env      map[string]string
}

// newFixture starts a redis-server with ropts and the fake platform, and returns the base
// configuration with overrides applied. Both are stopped when the test ends (after its services).
func newFixture(t *testing.T, ropts redistest.Options, overrides map[string]string) *fixture {
	t.Helper()
	p, ps := affiliatetest.NewServer(affiliatetest.PlatformConfig{})
	t.Cleanup(ps.Close)
	rs := redistest.Start(t, ropts)
	cfg := p.Config()
	env := map[string]string{
		"REDIS_URL":              rs.URL,
		"ALIEXPRESS_APP_KEY":     cfg.AppKey,
		"ALIEXPRESS_APP_SECRET":  cfg.Secret,
		"ALIEXPRESS_TRACKING_ID": cfg.TrackingID,
		"ALIEXPRESS_API_URL":     ps.URL,
		"ADMIN_TOKEN":            adminToken,
		// All the load comes from 127.0.0.1: the per-client budget of cache misses must not
		// be what sends clicks on untagged.
		"CLIENT_RATE":      "100000",
		"CLIENT_BURST":     "100000",
		"PLATFORM_RATE":    "1000",
		"UPSTREAM_TIMEOUT": "1s",
		"CLICK_FLUSH":      "200ms",
		// Every click counts, one visitor's too: the load comes from one address and one browser, and
		// the checks count clicks sent against clicks written.
		"CLICK_DEDUP_WINDOW": "0",
		"LOG_LEVEL":          "warn",
	}
	maps.Copy(env, overrides)
	return &fixture{redis: rs, platform: p, env: env}
}

// start runs a service configured with the fixture's env and extra (which wins).
func (f *fixture) start(t *testing.T, extra map[string]string) *service {
	t.Helper()
	env := maps.Clone(f.env)
	maps.Copy(env, extra)
	return startService(t, env)
}

// service is the redirector binary running as a child process on a free port.
type service struct {
	base   string
	client *http.Client // does not follow redirects
	cmd    *exec.Cmd
	logs   *lockedBuffer // stdout and stderr

	exited chan struct{} // closed once the process has been waited for
	state  *os.ProcessState
}

// freeAddr returns a 127.0.0.1 address that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	port, err := redistest.FreePort()
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
}

// noRedirects is an http.Client that returns redirects instead of following them.
func noRedirects(maxIdle int) *http.Client {
	return &http.Client{
		Timeout:       20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Transport: &http.Transport{
			Proxy:               nil,
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
			MaxIdleConns:        maxIdle,
			MaxIdleConnsPerHost: maxIdle,
			IdleConnTimeout:     30 * time.Second,
		},
	}
}

// startService runs the binary with env (LISTEN_ADDR and BASE_URL added) and waits until
// /healthz answers. A service still running when the test ends is killed; its output is shown
// if the test failed, and a data race it reported fails the test.
func startService(t *testing.T, env map[string]string) *service {
	t.Helper()
	addr := freeAddr(t)
	s := &service{
		base:   "http://" + addr,
		client: noRedirects(64),
		logs:   &lockedBuffer{},
		exited: make(chan struct{}),
	}
	env = maps.Clone(env)
	env["LISTEN_ADDR"] = addr
	env["BASE_URL"] = s.base
	if env["DATA_DIR"] == "" {
		env["DATA_DIR"] = t.TempDir() // the record mirror's file is one process's
	}
	s.cmd = exec.Command(binPath)
	s.cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "GORACE=halt_on_error=0"}
	for _, k := range slices.Sorted(maps.Keys(env)) {
		s.cmd.Env = append(s.cmd.Env, k+"="+env[k])
	}
	s.cmd.Stdout, s.cmd.Stderr = s.logs, s.logs
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", binPath, err)
	}
	go func() {
		_ = s.cmd.Wait()
		s.state = s.cmd.ProcessState
		close(s.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-s.exited:
		default:
			_ = s.cmd.Process.Kill()
			<-s.exited
		}
		out := s.logs.String()
		if strings.Contains(out, "WARNING: DATA RACE") {
			t.Errorf("the service reported a data race:\n%s", tail(out, 16<<10))
		} else if t.Failed() {
			t.Logf("service %s output (last 8 KiB):\n%s", s.base, tail(out, 8<<10))
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-s.exited:
			t.Fatalf("service exited before serving (%v):\n%s", s.state, tail(s.logs.String(), 8<<10))
		default:
		}
		if st, _, err := s.get("/healthz"); err == nil && st == http.StatusOK {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET /healthz did not answer 200 within 30s:\n%s", tail(s.logs.String(), 8<<10))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// tail returns the last n bytes of s.
func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

// get fetches path and returns its status and body.
func (s *service) get(path string) (int, []byte, error) {
	resp, err := s.client.Get(s.base + path)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// terminate sends SIGTERM and waits for the process to exit; it returns the exit code.
func (s *service) terminate(t *testing.T, within time.Duration) int {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
	return s.wait(t, within)
}

// wait waits for the process to exit and returns its exit code.
func (s *service) wait(t *testing.T, within time.Duration) int {
	t.Helper()
	select {
	case <-s.exited:
		return s.state.ExitCode()
	case <-time.After(within):
		t.Fatalf("service did not exit within %v", within)
		return -1
	}
}

// api sends an admin API request; body, when not nil, is sent as JSON. It returns the status and
// the body of the answer.
func (s *service) api(t *testing.T, method, path string, body any) (int, []byte) {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatalf("marshal %v: %v", body, err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.base+path, r)
	if err != nil {
		t.Fatalf("NewRequest: %v", err)
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
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
	return resp.StatusCode, b
}

// linkRecord is what the admin API shows of a link.
type linkRecord struct {
	ID        string    `json:"id"`
	Target    string    `json:"target"`
	CreatedAt time.Time `json:"created_at"`
	Clicks    int64     `json:"clicks"`
	Scans     int64     `json:"scans"`
}

// createLink makes a short link to rawURL (with slug, when not empty) and returns its record.
func (s *service) createLink(t *testing.T, rawURL, slug string) linkRecord {
	t.Helper()
	body := map[string]string{"url": rawURL}
	if slug != "" {
		body["slug"] = slug
	}
	st, b := s.api(t, http.MethodPost, "/api/links", body)
	if st != http.StatusCreated && st != http.StatusOK {
		t.Fatalf("POST /api/links %v = %d %s, want 201", body, st, b)
	}
	var rec linkRecord
	if err := json.Unmarshal(b, &rec); err != nil || rec.ID == "" || rec.Target == "" {
		t.Fatalf("POST /api/links %v = %s: want a record with id and target (%v)", body, b, err)
	}
	return rec
}

// link returns the record of id as the admin API shows it; ok=false on 404.
func (s *service) link(t *testing.T, id string) (rec linkRecord, ok bool) {
	t.Helper()
	st, b := s.api(t, http.MethodGet, "/api/links/"+id, nil)
	if st == http.StatusNotFound {
		return linkRecord{}, false
	}
	if st != http.StatusOK {
		t.Fatalf("GET /api/links/%s = %d %s, want 200", id, st, b)
	}
	if err := json.Unmarshal(b, &rec); err != nil {
		t.Fatalf("GET /api/links/%s = %s: %v", id, b, err)
	}
	return rec, true
}

// metrics reads /metrics and returns each metric's value, summed over its labels.
func (s *service) metrics(t *testing.T) map[string]float64 {
	t.Helper()
	st, b, err := s.get("/metrics")
	if err != nil || st != http.StatusOK {
		t.Fatalf("GET /metrics = %d, %v", st, err)
	}
	return parseMetrics(b)
}

// parseMetrics reads Prometheus text exposition: name{labels} value, summed per name.
func parseMetrics(b []byte) map[string]float64 {
	out := make(map[string]float64)
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		name := line
		if i := strings.IndexAny(line, "{ "); i >= 0 {
			name = line[:i]
		}
		// The value follows the name and labels; a timestamp may follow it.
		f := strings.Fields(line[strings.LastIndexByte(line, '}')+1:])
		if strings.IndexByte(line, '}') < 0 {
			f = f[1:]
		}
		if len(f) == 0 {
			continue
		}
		if v, err := strconv.ParseFloat(f[0], 64); err == nil {
			out[name] += v
		}
	}
	return out
}

// metric reads one metric.
func (s *service) metric(t *testing.T, name string) float64 {
	t.Helper()
	m := s.metrics(t)
	v, ok := m[name]
	if !ok {
		t.Fatalf("/metrics has no %s", name)
	}
	return v
}

// waitFor polls cond every 20ms until it holds or within passes; it reports whether it held.
func waitFor(within time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(within)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// readyz returns /readyz's status, 0 when the service did not answer.
func (s *service) readyz() int {
	st, _, err := s.get("/readyz")
	if err != nil {
		return 0
	}
	return st
}

// waitClicksSettled waits, for at most within, until the service has written or dropped at least
// the clicks sent and holds none unwritten (pending 0), and returns the dropped count it reports.
func (s *service) waitClicksSettled(t *testing.T, sent int64, within time.Duration) float64 {
	t.Helper()
	var m map[string]float64
	if !waitFor(within, func() bool {
		m = s.metrics(t)
		return m["redirector_clicks_pending"] == 0 && m["redirector_clicks_flushed_total"]+m["redirector_clicks_dropped_total"] >= float64(sent)
	}) {
		t.Fatalf("after %v: redirector_clicks_pending = %v, flushed %v, dropped %v, want pending 0 and %d written or dropped", within,
			m["redirector_clicks_pending"], m["redirector_clicks_flushed_total"], m["redirector_clicks_dropped_total"], sent)
	}
	return m["redirector_clicks_dropped_total"]
}

// total adds up the clicks sent.
func total(sent map[string]int64) int64 {
	var n int64
	for _, v := range sent {
		n += v
	}
	return n
}

// checkClicks compares the counts the admin API shows with the clicks sent (human GETs of each
// short link answered 302): the shortfall must be no more than dropped, what the service reported
// dropping, and none may be counted twice.
func checkClicks(t *testing.T, s *service, ids []string, sent map[string]int64, dropped float64) {
	t.Helper()
	var all, counted, surplus int64
	for _, id := range ids {
		rec, ok := s.link(t, id)
		if !ok {
			t.Errorf("GET /api/links/%s = 404 after the fault, want the link kept", id)
			continue
		}
		if rec.Clicks > sent[id] {
			surplus += rec.Clicks - sent[id]
			t.Errorf("link %s: clicks = %d, want at most the %d sent (counted twice)", id, rec.Clicks, sent[id])
		}
		all += sent[id]
		counted += min(rec.Clicks, sent[id])
	}
	if float64(all-counted) > dropped {
		t.Errorf("clicks counted = %d of %d sent: %d lost, but redirector_clicks_dropped_total = %v", counted, all, all-counted, dropped)
	}
	t.Logf("clicks: %d sent, %d counted, %d counted twice, dropped metric %v", all, counted, surplus, dropped)
}

// productURL is the canonical page of a product.
func productURL(id uint64) string {
	return fmt.Sprintf("https://www.aliexpress.com/item/%d.html", id)
}

// freshProducts hands out product pages no one has asked for yet.
type freshProducts struct {
	mu   sync.Mutex // guards next
	next uint64
}

// newFreshProducts starts at a random 16-digit AliExpress-like product id.
func newFreshProducts() *freshProducts {
	return &freshProducts{next: 1005_0000_0000_0000 + rand.Uint64N(8_000_000_000_000)}
}

// page returns a new product page's canonical URL.
func (f *freshProducts) page() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.next++
	return productURL(f.next)
}

// redisConfig reads one setting of a running redis-server with CONFIG GET.
func redisConfig(t *testing.T, addr, name string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Fatalf("dial redis %s: %v", addr, err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(c, "*3\r\n$6\r\nCONFIG\r\n$3\r\nGET\r\n$%d\r\n%s\r\n", len(name), name)
	r := bufio.NewReader(c)
	var lines []string
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("CONFIG GET %s: %v", name, err)
		}
		lines = append(lines, strings.TrimRight(line, "\r\n"))
		// *2, $len, name, $len, value
		if lines[0] != "*2" || len(lines) == 5 {
			break
		}
	}
	if len(lines) != 5 {
		t.Fatalf("CONFIG GET %s = %q, want one name and its value", name, lines)
	}
	return lines[4]
}

// composeRedisArgs returns the redis-server arguments docker-compose.yml gives its redis service.
func composeRedisArgs(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("../docker-compose.yml")
	if err != nil {
		t.Fatalf("read docker-compose.yml: %v", err)
	}
	var args []string
	in := false
	for line := range strings.Lines(string(b)) {
		trimmed := strings.TrimSpace(line)
		switch {
		case trimmed == "command:":
			in = args == nil
		case in && strings.HasPrefix(trimmed, "- "):
			v := strings.TrimSpace(strings.TrimPrefix(trimmed, "- "))
			if u, err := strconv.Unquote(v); err == nil {
				v = u
			}
			args = append(args, v)
		case in:
			in = false
		}
	}
	if len(args) < 2 || args[0] != "redis-server" {
		t.Fatalf("docker-compose.yml: redis command = %q, want redis-server and its arguments", args)
	}
	return args[1:]
}

// shortPath is the path of a short link.
func shortPath(id string) string { return "/" + id }

// goPath is the /go request for a page.
func goPath(page string) string { return "/go?u=" + url.QueryEscape(page) }
