package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/redirector/redirector/internal/affiliate/affiliatetest"
)

// adminToken is the bearer token the harness gives the service it starts.
const adminToken = "bench-admin-token-0123456789"

// env is what every instance of the service under test is started with, apart from CACHE_SIZE.
type env struct {
	bin         string // the redirector binary
	dir         string // where logs go
	redisURL    string
	platform    string // the fake platform's /sync URL
	pcfg        affiliatetest.PlatformConfig
	batchSize   int
	batchWindow time.Duration
	redisQuery  string   // appended to redisURL for the service
	pprof       bool     // serve Go's profiles on a DEBUG_ADDR of the service's own
	settings    []string // KEY=VALUE, over the harness's own
}

// service is one running instance of the redirector.
type service struct {
	*proc
	base  string // http://127.0.0.1:port
	debug string // http://127.0.0.1:port of DEBUG_ADDR; empty without env.pprof
}

// startService runs the redirector with cacheSize first-tier entries (0 disables the tier) and
// extra environment, and waits for /healthz.
func startService(ctx context.Context, ps *procs, e env, name string, cacheSize int, extra ...string) (*service, error) {
	port, err := freePort()
	if err != nil {
		return nil, fmt.Errorf("free port: %w", err)
	}
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	vars := []string{
		"LISTEN_ADDR=127.0.0.1:" + strconv.Itoa(port),
		"BASE_URL=" + base,
		"REDIS_URL=" + serviceRedisURL(e),
		"ALIEXPRESS_APP_KEY=" + e.pcfg.AppKey,
		"ALIEXPRESS_APP_SECRET=" + e.pcfg.Secret,
		"ALIEXPRESS_TRACKING_ID=" + e.pcfg.TrackingID,
		"ALIEXPRESS_API_URL=" + e.platform,
		"LINK_TTL=24h",
		"NEGATIVE_TTL=5m",
		"UPSTREAM_TIMEOUT=2s",
		"ADMIN_TOKEN=" + adminToken,
		"CACHE_SIZE=" + strconv.Itoa(cacheSize),
		"BATCH_SIZE=" + strconv.Itoa(e.batchSize),
		"BATCH_WINDOW=" + e.batchWindow.String(),
		// The cold scenario asks for new links as fast as the machine allows; the platform's real
		// quota is not what is measured here.
		"PLATFORM_RATE=1000",
		// All the load comes from one address; the per-client budget of misses must not shape it.
		"CLIENT_RATE=100000",
		"CLIENT_BURST=100000",
		// flood-qr-spread names a client per request with X-Forwarded-For; nothing else sends it.
		"TRUSTED_PROXIES=127.0.0.1/32",
		"LOG_LEVEL=warn",
	}
	var debug string
	if e.pprof {
		dport, err := freePort()
		if err != nil {
			return nil, fmt.Errorf("free port: %w", err)
		}
		vars = append(vars, "DEBUG_ADDR=127.0.0.1:"+strconv.Itoa(dport))
		debug = "http://127.0.0.1:" + strconv.Itoa(dport)
	}
	// The record mirror's file is one process's, and the harness's output directory holds it.
	vars = append(vars, "DATA_DIR="+filepath.Join(e.dir, name+".data"))
	vars = append(vars, e.settings...)
	vars = append(vars, extra...) // the last of a key's values counts
	p, err := ps.start(name, e.dir, e.bin, nil, vars)
	if err != nil {
		return nil, err
	}
	if err := waitHTTP(ctx, p, base+"/healthz", http.StatusOK, 20*time.Second); err != nil {
		p.stop()
		return nil, err
	}
	return &service{proc: p, base: base, debug: debug}, nil
}

// metrics returns the service's /metrics, parsed.
func (s *service) metrics(ctx context.Context) (promText, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.base+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("get metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("get metrics: status %d", resp.StatusCode)
	}
	return parseProm(resp.Body)
}

// createLink makes a short link for target through the admin API and returns its id.
func (s *service) createLink(ctx context.Context, target string) (string, error) {
	body, _ := json.Marshal(map[string]string{"url": target})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.base+"/api/links", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("create link: %w", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("create link: status %d: %s", resp.StatusCode, strings.TrimSpace(string(b)))
	}
	var out struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(b, &out); err != nil || out.ID == "" {
		return "", fmt.Errorf("create link: unreadable answer %q", b)
	}
	return out.ID, nil
}

// get requests url once without following redirects and returns the status and Location.
func get(ctx context.Context, url string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("User-Agent", userAgent)
	client := &http.Client{
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Location"), nil
}

// promText is a Prometheus text exposition: each sample's value by its full series name
// ("name" or `name{label="v",…}`, as written).
type promText map[string]float64

// parseProm reads the Prometheus text format, keeping samples and skipping comments.
func parseProm(r io.Reader) (promText, error) {
	out := promText{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		// The value follows the last space outside the labels; a timestamp may follow it.
		series, rest := line, ""
		if i := strings.LastIndexByte(line, '}'); i >= 0 {
			series, rest = line[:i+1], strings.TrimSpace(line[i+1:])
		} else if i := strings.IndexByte(line, ' '); i >= 0 {
			series, rest = line[:i], strings.TrimSpace(line[i+1:])
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			return nil, fmt.Errorf("metrics line %q has no value", line)
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			return nil, fmt.Errorf("metrics line %q: %w", line, err)
		}
		out[series] = v
	}
	return out, sc.Err()
}

// sum returns the sum of every series of metric name, whatever its labels.
func (p promText) sum(name string) float64 {
	var total float64
	for series, v := range p {
		if series == name || (strings.HasPrefix(series, name+"{")) {
			total += v
		}
	}
	return total
}

// serviceRedisURL is the REDIS_URL the service gets: the harness's Redis, with -redis-query.
func serviceRedisURL(e env) string {
	if e.redisQuery == "" {
		return e.redisURL
	}
	return e.redisURL + "?" + e.redisQuery
}
