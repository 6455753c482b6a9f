package main

import (
	"context"
	"net/http"
	"net/http/httptest"
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
)

// fakePeerDir returns a directory holding the files a checkout of the peer must have, the
// schema files with sql.
func fakePeerDir(t *testing.T, sql string) string {
	t.Helper()
	dir := t.TempDir()
	for _, f := range peerFiles {
		p := filepath.Join(dir, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(sql), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestParsePeerFlags(t *testing.T) {
	dir := fakePeerDir(t, "")
	tests := []struct {
		name    string
		args    []string
		wantErr string // "" for none
	}{
		{"peer with scenario (d)", []string{"-peer", dir, "-scenarios", "redis"}, ""},
		{"peer with (d) among others", []string{"-peer", dir, "-scenarios", "hot-go, redis"}, ""},
		{"peer with the default scenarios", []string{"-peer", dir}, ""},
		{"peer without scenario (d)", []string{"-peer", dir, "-scenarios", "hot-go,zipf"}, "add redis to -scenarios"},
		{"not a checkout", []string{"-peer", t.TempDir(), "-scenarios", "redis"}, "missing lib/go.mod"},
		{"PostgreSQL URL of another scheme", []string{"-peer", dir, "-scenarios", "redis", "-peer-pg", "http://127.0.0.1:5432/postgres"}, "-peer-pg"},
		{"PostgreSQL URL without a host", []string{"-peer", dir, "-scenarios", "redis", "-peer-pg", "postgres:///postgres"}, "-peer-pg"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o, err := parseFlags(tc.args, &strings.Builder{})
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("parseFlags(%q): %v", tc.args, err)
			case tc.wantErr == "" && o.peer != dir:
				t.Errorf("parseFlags(%q).peer = %q, want %q", tc.args, o.peer, dir)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("parseFlags(%q) error = %v, want one saying %q", tc.args, err, tc.wantErr)
			}
		})
	}
	o, err := parseFlags(nil, &strings.Builder{})
	if err != nil || o.peer != "" {
		t.Errorf("parseFlags(nil): peer %q, error %v; want no peer, no error", o.peer, err)
	}
}

func TestWithDatabase(t *testing.T) {
	got := withDatabase("postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable", "peerbench_7")
	if want := "postgres://postgres@127.0.0.1:5432/peerbench_7?sslmode=disable"; got != want {
		t.Errorf("withDatabase = %q, want %q", got, want)
	}
}

func TestPeerSchema(t *testing.T) {
	sql := "create table if not exists t (time timestamptz not null);\n\n-- to drop\nSELECT\n  create_hypertable ('t', 'time', if_not_exists => true);\ncreate index if not exists i on t (time);\n"
	got, err := peerSchema(fakePeerDir(t, sql))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(got, "create_hypertable") {
		t.Errorf("peerSchema kept TimescaleDB's call:\n%s", got)
	}
	if n := strings.Count(got, "create table if not exists t"); n != 2 {
		t.Errorf("peerSchema has %d create table statements, want both files' (2):\n%s", n, got)
	}
	if !strings.Contains(got, "create index if not exists i on t (time);") {
		t.Errorf("peerSchema dropped the statement after the call:\n%s", got)
	}
}

func TestPeerSpec(t *testing.T) {
	h := &harness{opts: options{products: 1000, workers: 64}}
	zipf := h.zipfSpec()
	p := peerSpec(zipf)
	if !p.tree || p.url != "/" || p.script != "zipf" || p.conns != zipf.conns {
		t.Errorf("peerSpec = %+v; want the Zipf script over the same connections, at /, CPU of the tree", p)
	}
	if want := append(slices.Clone(zipf.args), "id"); !slices.Equal(p.args, want) {
		t.Errorf("peerSpec args = %q, want %q", p.args, want)
	}
	if zipf.tree || slices.Contains(zipf.args, "id") {
		t.Errorf("peerSpec changed the service's spec: %+v", zipf)
	}
}

func TestParseStat(t *testing.T) {
	st, err := parseStat("4243 (wormholes (child)) S 4242 4242 4242 0 -1 4194560 1234 0 0 0 150 37 0 0 20 0 9 0 1000 1 2 3")
	if err != nil || st.ppid != 4242 || st.cpu != 1870*time.Millisecond {
		t.Errorf("parseStat = %+v, %v; want parent 4242, 1.87s", st, err)
	}
	if _, err := parseStat("4243 (x) S"); err == nil {
		t.Error("parseStat of a cut line: nil error, want one")
	}
}

func TestDescendants(t *testing.T) {
	stats := map[int]procStat{
		1: {ppid: 0}, 10: {ppid: 1}, 11: {ppid: 10}, 12: {ppid: 10}, 13: {ppid: 12}, 20: {ppid: 1},
		30: {ppid: 31}, 31: {ppid: 30}, // a loop, which /proc cannot show but must not hang the walk
	}
	got := descendants(10, stats)
	slices.Sort(got)
	if want := []int{10, 11, 12, 13}; !slices.Equal(got, want) {
		t.Errorf("descendants(10) = %v, want %v", got, want)
	}
	if got := descendants(20, stats); !slices.Equal(got, []int{20}) {
		t.Errorf("descendants(20) = %v, want [20]", got)
	}
	if got := descendants(30, stats); len(got) != 2 {
		t.Errorf("descendants(30) = %v, want 30 and 31 once each", got)
	}
}

// TestProcTreeCPU runs a shell with a busy child and an idle one: the tree's CPU counts the busy
// child's time, which the shell's own does not.
func TestProcTreeCPU(t *testing.T) {
	cmd := exec.Command("sh", "-c", "while :; do :; done & sleep 30 & wait")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
	})
	root := cmd.Process.Pid
	deadline := time.Now().Add(10 * time.Second)
	for {
		cpu, n, err := procTreeCPU(root)
		if err != nil {
			t.Fatal(err)
		}
		own, err := procCPU(root)
		if err != nil {
			t.Fatal(err)
		}
		if n == 3 && cpu-own >= 50*time.Millisecond {
			pids, err := procTree(root)
			if err != nil || len(pids) != 3 || pids[0] != root {
				t.Errorf("procTree(%d) = %v, %v; want the shell first, then its two children", root, pids, err)
			}
			return // the busy child's time is in the sum
		}
		if time.Now().After(deadline) {
			t.Fatalf("procTreeCPU(%d) = %v over %d processes, the shell alone %v; want 3 processes and the busy child's time", root, cpu, n, own)
		}
		time.Sleep(20 * time.Millisecond) // the busy child is running meanwhile
	}
}

// TestZipfScriptIDs runs lua/zipf.lua with its "id" argument in wrk against a server that records
// the paths: each is /<product id> within the products given.
func TestZipfScriptIDs(t *testing.T) {
	if _, err := wrkBinary(); err != nil {
		t.Skip(err) // make bench installs wrk; the script is only run by it
	}
	var mu sync.Mutex
	paths := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths[r.URL.RequestURI()]++
		mu.Unlock()
		http.Redirect(w, r, "https://example.com/", http.StatusMovedPermanently)
	}))
	defer srv.Close()
	const n, base = 50, 1005003000000000
	spec := peerSpec((&harness{opts: options{products: n, workers: 4}}).zipfSpec())
	spec.url, spec.duration, spec.server = srv.URL+spec.url, time.Second, os.Getpid()
	r, err := runWrk(context.Background(), t.TempDir(), spec)
	if err != nil {
		t.Fatal(err)
	}
	if r.Requests == 0 || r.errors() != 0 {
		t.Fatalf("wrk: %d requests, %d errors; want some, none", r.Requests, r.errors())
	}
	mu.Lock()
	defer mu.Unlock()
	for p := range paths {
		id, err := strconv.ParseUint(strings.TrimPrefix(p, "/"), 10, 64)
		if err != nil || !strings.HasPrefix(p, "/") || id < base || id >= base+n {
			t.Errorf("path %q is not /<id> of one of the %d products from %d", p, n, base)
		}
	}
	if len(paths) < 2 {
		t.Errorf("%d distinct paths, want the Zipf mix's several", len(paths))
	}
}

func TestPgShare(t *testing.T) {
	if got := pgShare(-1, 100); !strings.Contains(got, "not measured") {
		t.Errorf("pgShare(unknown) = %q, want it to say so", got)
	}
	if got := pgShare(3*time.Second, 100_000); !strings.Contains(got, "3.0 s") || !strings.Contains(got, "30.0 µs per request") {
		t.Errorf("pgShare(3s, 100,000) = %q, want 3.0 s and 30.0 µs per request", got)
	}
}
