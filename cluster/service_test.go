//go:build cluster

// Package cluster_test runs the redirector as several replicas, each its own process, over a real
// Redis Cluster of six redis-server processes on loopback, and checks what scaling out promises:
// a change made through one replica is served by the others within a second, clicks counted by
// different replicas add up, and a Redis master that dies under traffic loses no record and fails
// no redirect. It also measures throughput with one, two and three replicas.
//
// Run it with `make cluster-test` (go test -tags cluster ./cluster/).
package cluster_test

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redirector/redirector/internal/affiliate/affiliatetest"
)

// adminToken is the ADMIN_TOKEN the replicas are given.
const adminToken = "cluster-admin-token-Qp40"

// browserUA is a person's browser, whose clicks count.
const browserUA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"

// serviceBin is the redirector binary TestMain builds for the tests ($CLUSTER_TEST_BIN if set).
var serviceBin string

// keepLogs keeps the replicas' logs for a look after the run.
var keepLogs = flag.Bool("cluster.keep", false, "print where the replicas' logs are and keep them")

func TestMain(m *testing.M) {
	flag.Parse()
	dir, err := os.MkdirTemp("", "redirector-cluster-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "cluster tests:", err)
		os.Exit(1)
	}
	serviceBin = os.Getenv("CLUSTER_TEST_BIN") // a binary built elsewhere, a release say
	if serviceBin == "" {
		serviceBin = filepath.Join(dir, "redirector")
		goBin, err := exec.LookPath("go")
		if err != nil {
			goBin = "/usr/local/go/bin/go"
		}
		build := exec.Command(goBin, "build", "-o", serviceBin, "./cmd/redirector")
		build.Dir = ".." // the module's root
		if out, err := build.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "cluster tests: go build ./cmd/redirector: %v\n%s", err, out)
			os.RemoveAll(dir)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// replica is one redirector process.
type replica struct {
	name string
	base string // http://127.0.0.1:port
	log  string // its stdout and stderr

	mu     sync.Mutex // guards cmd
	cmd    *exec.Cmd
	exited chan struct{} // closed when the process has been waited for
}

// fakePlatform starts the strict fake of the AliExpress platform for the test.
func fakePlatform(t *testing.T) (*affiliatetest.Platform, string) {
	t.Helper()
	p, srv := affiliatetest.NewServer(affiliatetest.PlatformConfig{})
	t.Cleanup(srv.Close)
	return p, srv.URL + "/sync"
}

// serviceEnv is the configuration every replica of a test shares: the cluster's seeds, the fake
// platform, the admin token, a short click flush and no per-client limit; extra settings last.
func serviceEnv(p *affiliatetest.Platform, apiURL string, rc *redisCluster, extra ...string) []string {
	cfg := p.Config()
	env := []string{
		"REDIS_CLUSTER_ADDRS=" + strings.Join(rc.addrs(), ","),
		"ALIEXPRESS_APP_KEY=" + cfg.AppKey,
		"ALIEXPRESS_APP_SECRET=" + cfg.Secret,
		"ALIEXPRESS_TRACKING_ID=" + cfg.TrackingID,
		"ALIEXPRESS_API_URL=" + apiURL,
		"ADMIN_TOKEN=" + adminToken,
		"CLICK_FLUSH=200ms",
		// Every click counts, one visitor's too: the tests click from one address and count what the
		// replicas write (one visitor counted once across replicas: internal/redirect's TestReplicasCountsAddUp).
		"CLICK_DEDUP_WINDOW=0",
		"CLIENT_RATE=100000",
		"CLIENT_BURST=100000",
		"LOG_LEVEL=warn",
		"SHUTDOWN_TIMEOUT=5s", // a replica whose Redis is gone gives up its click counts sooner
	}
	return append(env, extra...)
}

// startReplicas starts n replicas with env, each on a free port, and waits until each answers
// /healthz and /readyz. They are stopped (SIGTERM) when the test ends.
func startReplicas(t *testing.T, n int, env []string) []*replica {
	t.Helper()
	dir := t.TempDir()
	if *keepLogs {
		var err error
		if dir, err = os.MkdirTemp("", "redirector-replicas-"); err != nil {
			t.Fatal(err)
		}
		t.Logf("replica logs in %s", dir)
	}
	var rs []*replica
	t.Cleanup(func() { // all at once: each may take SHUTDOWN_TIMEOUT to give up its click counts
		var wg sync.WaitGroup
		for _, r := range rs {
			wg.Go(r.stop)
		}
		wg.Wait()
		if t.Failed() {
			for _, r := range rs {
				t.Logf("replica %s log (tail):\n%s", r.name, tail(r.log, 20))
			}
		}
	})
	for i := range n {
		r, err := startReplica(fmt.Sprintf("r%d", i+1), dir, env)
		if err != nil {
			t.Fatal(err)
		}
		rs = append(rs, r)
	}
	for _, r := range rs {
		r.waitReady(t, 20*time.Second)
	}
	return rs
}

// startReplica starts one redirector process named name, logging to dir/name.log.
func startReplica(name, dir string, env []string) (*replica, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("find a free port: %w", err)
	}
	addr := ln.Addr().String()
	ln.Close()
	r := &replica{name: name, base: "http://" + addr, log: filepath.Join(dir, name+".log"), exited: make(chan struct{})}
	logFile, err := os.Create(r.log)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(serviceBin)
	// Each replica its own DATA_DIR (the record mirror's file is one process's), unless env names one.
	cmd.Env = append([]string{"LISTEN_ADDR=" + addr, "BASE_URL=" + r.base, "DATA_DIR=" + filepath.Join(dir, name+".data")}, env...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start replica %s: %w", name, err)
	}
	r.cmd = cmd
	go func() { _ = cmd.Wait(); logFile.Close(); close(r.exited) }()
	return r, nil
}

// waitReady waits until the replica answers 200 on /healthz and /readyz.
func (r *replica) waitReady(t *testing.T, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for _, path := range []string{"/healthz", "/readyz"} {
		for {
			select {
			case <-r.exited:
				t.Fatalf("replica %s exited before it was ready:\n%s", r.name, tail(r.log, 20))
			default:
			}
			resp, err := httpClient.Get(r.base + path)
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("replica %s: GET %s not 200 within %v (last error %v):\n%s", r.name, path, timeout, err, tail(r.log, 20))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// stop ends the replica with SIGTERM, as an orchestrator would, and waits for it (SIGKILL after 20s).
func (r *replica) stop() {
	r.mu.Lock()
	cmd := r.cmd
	r.cmd = nil
	r.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(os.Interrupt)
	select {
	case <-r.exited:
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		<-r.exited
	}
}

// httpClient does not follow redirects: the tests look at the 302 itself.
var httpClient = &http.Client{
	Timeout: 10 * time.Second,
	Transport: &http.Transport{
		Proxy:               nil,
		MaxIdleConns:        256,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     30 * time.Second,
	},
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// reply is an answer read whole.
type reply struct {
	status   int
	location string
	body     string
}

// send sends one request as a person's browser (with the admin token for /api/) and reads the answer.
func (r *replica) send(ctx context.Context, method, path, body string) (reply, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, r.base+path, rd)
	if err != nil {
		return reply{}, err
	}
	req.Header.Set("User-Agent", browserUA)
	if strings.HasPrefix(path, "/api/") {
		req.Header.Set("Authorization", "Bearer "+adminToken)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return reply{}, fmt.Errorf("%s %s: read body: %w", method, path, err)
	}
	return reply{status: resp.StatusCode, location: resp.Header.Get("Location"), body: strings.TrimSpace(string(b))}, nil
}

// must is send that fails the test on a transport error.
func (r *replica) must(t *testing.T, method, path, body string) reply {
	t.Helper()
	rep, err := r.send(context.Background(), method, path, body)
	if err != nil {
		t.Fatalf("%s %s%s: %v", method, r.base, path, err)
	}
	return rep
}

// create makes the short link slug for target through r and returns its id.
func (r *replica) create(t *testing.T, target, slug string) string {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"url": target, "slug": slug})
	rep := r.must(t, http.MethodPost, "/api/links", string(body))
	if rep.status != http.StatusCreated {
		t.Fatalf("%s: POST /api/links %s = %d %s, want 201", r.name, body, rep.status, rep.body)
	}
	var got struct{ ID string }
	if err := json.Unmarshal([]byte(rep.body), &got); err != nil || got.ID == "" {
		t.Fatalf("%s: POST /api/links: body %s: no id (%v)", r.name, rep.body, err)
	}
	return got.ID
}

// linkJSON is what GET /api/links/{id} answers, the fields the tests read.
type linkJSON struct {
	ID     string `json:"id"`
	Target string `json:"target"`
	Clicks int64  `json:"clicks"`
}

// link reads the record id through r; ok=false on 404.
func (r *replica) link(t *testing.T, id string) (l linkJSON, ok bool) {
	t.Helper()
	rep := r.must(t, http.MethodGet, "/api/links/"+id, "")
	switch rep.status {
	case http.StatusOK:
	case http.StatusNotFound:
		return l, false
	default:
		t.Fatalf("%s: GET /api/links/%s = %d %s, want 200 or 404", r.name, id, rep.status, rep.body)
	}
	if err := json.Unmarshal([]byte(rep.body), &l); err != nil {
		t.Fatalf("%s: GET /api/links/%s: body %s: %v", r.name, id, rep.body, err)
	}
	return l, true
}

// product returns the canonical page of product n, and the tagged link the fake platform gives it.
func product(n int) (page, tagged string) {
	page = "https://www.aliexpress.com/item/" + strconv.Itoa(1005000000000000+n) + ".html"
	return page, affiliatetest.Link(page)
}

// landsOnAliExpress reports whether a redirect's Location is an AliExpress page or affiliate link:
// https, on aliexpress.com or one of its subdomains.
func landsOnAliExpress(location string) bool {
	u, err := url.Parse(location)
	if err != nil || u.Scheme != "https" || u.User != nil || u.Port() != "" {
		return false
	}
	h := u.Hostname()
	return h == "aliexpress.com" || strings.HasSuffix(h, ".aliexpress.com")
}

// busChannel is the pub/sub channel of the replicas' invalidations (internal/invalidate).
const busChannel = "rd:v1:invalidate"

// waitSubscribed waits until n replicas listen for invalidations on the cluster's shard channel,
// so that a change announced after it returns reaches every one of them.
func waitSubscribed(t *testing.T, rc *redisCluster, n int) {
	t.Helper()
	master, _ := rc.owner(t, busChannel)
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, err := rc.do(master, "PUBSUB", "SHARDNUMSUB", busChannel)
		if err == nil {
			lines := strings.Split(out, "\n")
			if got, _ := strconv.Atoi(strings.TrimSpace(lines[len(lines)-1])); got >= n {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("PUBSUB SHARDNUMSUB %s on %s = %q (%v), want %d subscribers within 10s", busChannel, master.addr, out, err, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// metric returns the value of the unlabelled counter or gauge name on r's /metrics.
func (r *replica) metric(t *testing.T, name string) float64 {
	t.Helper()
	rep := r.must(t, http.MethodGet, "/metrics", "")
	for _, line := range strings.Split(rep.body, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				t.Fatalf("%s: /metrics: %s: %v", r.name, line, err)
			}
			return f
		}
	}
	t.Fatalf("%s: /metrics has no %s", r.name, name)
	return 0
}
