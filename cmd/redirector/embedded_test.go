package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redirector/redirector/internal/redistest"
	"github.com/redirector/redirector/internal/store"
)

// buildBinary builds the redirector into a directory of t's and returns its path.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "redirector")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out.String())
	}
	return bin
}

// binService is the real binary serving -dev on a free port.
type binService struct {
	*e2eService
	cmd    *exec.Cmd
	exited chan error // gets Wait's result
}

// startBinary starts bin -dev with environ (plus LISTEN_ADDR and BASE_URL on a free port) and waits
// until /healthz answers. The process is killed when the test ends.
func startBinary(t *testing.T, bin string, environ []string) *binService {
	t.Helper()
	s := launchBinary(t, bin, environ)
	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case err := <-s.exited:
			t.Fatalf("redirector exited before serving: %v\nstdout:\n%s\nstderr:\n%s", err, s.stdout, s.stderr)
		default:
		}
		if resp, err := s.client.Get(s.base + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET /healthz did not answer 200 within 15s\nstdout:\n%s\nstderr:\n%s", s.stdout, s.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// launchBinary starts bin -dev with environ and returns at once.
func launchBinary(t *testing.T, bin string, environ []string) *binService {
	t.Helper()
	addr := freeAddr(t)
	s := &binService{
		e2eService: &e2eService{
			base:   "http://" + addr,
			stdout: &lockedBuffer{},
			stderr: &lockedBuffer{},
			client: &http.Client{
				Timeout:       10 * time.Second,
				CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
			},
		},
		exited: make(chan error, 1),
	}
	s.cmd = exec.Command(bin, "-dev")
	s.cmd.Env = append(slices.Clone(environ), "LISTEN_ADDR="+addr, "BASE_URL="+s.base)
	s.cmd.Stdout, s.cmd.Stderr = s.stdout, s.stderr
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	go func() { s.exited <- s.cmd.Wait() }()
	t.Cleanup(func() {
		_ = s.cmd.Process.Kill()
		<-s.exited
		s.exited <- nil
	})
	return s
}

// kill ends the process with SIGKILL, as a crash would: nothing is flushed or closed.
func (s *binService) kill(t *testing.T) {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("kill -9: %v", err)
	}
	err := <-s.exited
	s.exited <- err
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("after kill -9 the process ended with %v, want killed by SIGKILL", err)
	}
}

// embeddedEnviron is the configuration of a -dev binary on the embedded store in dir.
func embeddedEnviron(dir string) []string {
	return []string{
		"DATA_DIR=" + dir,
		"ADMIN_TOKEN=" + e2eToken,
		"CLICK_FLUSH=100ms",
		"CLICK_DEDUP_WINDOW=0", // every click counts: the tests click from one visitor
		"CLIENT_RATE=100000",
		"CLIENT_BURST=100000",
		"PLATFORM_RATE=100000",
		"LOG_LEVEL=warn",
	}
}

func randomDigits(t *testing.T, n int) string {
	t.Helper()
	var b strings.Builder
	for range n {
		d, err := rand.Int(rand.Reader, big.NewInt(10))
		if err != nil {
			t.Fatalf("rand: %v", err)
		}
		b.WriteByte(byte('0' + d.Int64()))
	}
	return b.String()
}

// TestEmbeddedStoreSurvivesKill creates 1,000 links (product codes, random ids and slugs) through the
// API of the real binary on the embedded store, clicks some, waits until the counts are flushed,
// kills the process with SIGKILL and starts it again on the same DATA_DIR: every link resolves to
// its target and the flushed clicks are there.
func TestEmbeddedStoreSurvivesKill(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	dir := t.TempDir()
	environ := embeddedEnviron(dir)
	s := startBinary(t, bin, environ)

	type created struct{ id, target string }
	const n = 1000
	pages := make([]string, n)
	slugs := make([]string, n)
	for i := range n {
		switch i % 3 {
		case 0: // a product: its id is the product's code
			pages[i] = "https://www.aliexpress.com/item/100500" + randomDigits(t, 10) + ".html"
		case 1: // a store page: a random id
			pages[i] = "https://www.aliexpress.com/store/" + randomDigits(t, 9)
		case 2: // a store page with a slug
			pages[i] = "https://www.aliexpress.com/store/" + randomDigits(t, 9)
			b := make([]byte, 6)
			_, _ = rand.Read(b)
			slugs[i] = "s-" + hex.EncodeToString(b)
		}
	}
	links := make([]created, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	next := make(chan int)
	for range 8 {
		wg.Go(func() {
			for i := range next {
				body := `{"url":"` + pages[i] + `"`
				if slugs[i] != "" {
					body += `,"slug":"` + slugs[i] + `"`
				}
				r := s.do(t, http.MethodPost, "/api/links", body+"}", e2eToken)
				var got struct{ ID, Target string }
				if err := json.Unmarshal([]byte(r.body), &got); r.status != http.StatusCreated || err != nil || got.ID == "" {
					errs <- fmt.Errorf("POST /api/links %s = %d %s, want 201 with an id", body, r.status, r.body)
					continue
				}
				if slugs[i] != "" && got.ID != slugs[i] {
					errs <- fmt.Errorf("POST /api/links %s: id %q, want the slug", body, got.ID)
				}
				links[i] = created{got.ID, pages[i]}
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	// Clicks: 3 on each of 30 links, flushed (the API reads them from the store) before the kill.
	const clicked, perLink = 30, 3
	for _, l := range links[:clicked] {
		for range perLink {
			if r := s.do(t, http.MethodGet, "/"+l.id, "", ""); r.status != http.StatusFound {
				t.Fatalf("GET /%s before the kill = %d, want 302", l.id, r.status)
			}
		}
	}
	for _, l := range links[:clicked] {
		if got := replicaClicks(t, s.e2eService, l.id, perLink); got != perLink {
			t.Fatalf("GET /api/links/%s clicks = %d before the kill, want %d flushed", l.id, got, perLink)
		}
	}
	s.kill(t)

	s = startBinary(t, bin, environ)
	var bad []string
	for _, l := range links {
		r := s.do(t, http.MethodHead, "/"+l.id, "", "")
		if loc := r.header.Get("Location"); r.status != http.StatusFound || !strings.HasPrefix(loc, l.target+"?") {
			bad = append(bad, fmt.Sprintf("HEAD /%s = %d %q, want 302 to %s", l.id, r.status, loc, l.target))
		}
	}
	if len(bad) > 0 {
		t.Fatalf("after kill -9 and a restart, %d of %d links do not resolve; first: %s", len(bad), n, bad[0])
	}
	for _, l := range links[:clicked] {
		r := s.do(t, http.MethodGet, "/api/links/"+l.id, "", e2eToken)
		var got struct{ Clicks int64 }
		if err := json.Unmarshal([]byte(r.body), &got); err != nil || got.Clicks != perLink {
			t.Errorf("GET /api/links/%s after kill -9 = %d %s, want clicks %d", l.id, r.status, r.body, perLink)
		}
	}
}

// TestEmbeddedStoreOneProcessPerDataDir: a second process on a DATA_DIR in use exits non-zero and says
// why; the first keeps serving.
func TestEmbeddedStoreOneProcessPerDataDir(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	dir := t.TempDir()
	first := startBinary(t, bin, embeddedEnviron(dir))
	second := launchBinary(t, bin, embeddedEnviron(dir))
	var err error
	select {
	case err = <-second.exited:
		second.exited <- err
	case <-time.After(15 * time.Second):
		t.Fatalf("a second redirector on the same DATA_DIR still runs after 15s\nstdout:\n%s", second.stdout)
	}
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() == 0 {
		t.Errorf("second redirector on the same DATA_DIR ended with %v, want a non-zero exit status", err)
	}
	path := filepath.Join(dir, store.EmbeddedFile)
	for _, want := range []string{path, "another redirector is using DATA_DIR"} {
		if !strings.Contains(second.stderr.String(), want) {
			t.Errorf("second redirector's stderr does not say %q:\n%s", want, second.stderr)
		}
	}
	if r := first.do(t, http.MethodGet, "/healthz", "", ""); r.status != http.StatusOK {
		t.Errorf("the first redirector's /healthz = %d after the second was refused, want 200", r.status)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("data file: %v", err)
	}
}

// TestExportImportCarriesCounts moves links and their click totals from the embedded store to a real
// Redis: export from the stopped process's DATA_DIR (and -from while it runs: the same lines), import;
// the totals match, and importing again changes nothing.
func TestExportImportCarriesCounts(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := startRun(t, []string{"-dev"}, embeddedEnviron(dir))
	clicks := map[string]int{"counted-a": 5, "counted-b": 2, "never-clicked": 0}
	for id, n := range clicks {
		page := "https://www.aliexpress.com/store/9" + randomDigits(t, 6)
		if r := s.do(t, http.MethodPost, "/api/links", `{"url":"`+page+`","slug":"`+id+`"}`, e2eToken); r.status != http.StatusCreated {
			t.Fatalf("POST /api/links %s = %d %s", id, r.status, r.body)
		}
		for range n {
			if r := s.do(t, http.MethodGet, "/"+id, "", ""); r.status != http.StatusFound {
				t.Fatalf("GET /%s = %d, want 302", id, r.status)
			}
		}
		if n > 0 {
			replicaClicks(t, s, id, int64(n))
		}
	}
	// A scan: a click through the QR code.
	if r := s.do(t, http.MethodGet, "/counted-b?qr", "", ""); r.status != http.StatusFound {
		t.Fatalf("GET /counted-b?qr = %d, want 302", r.status)
	}
	clicks["counted-b"]++
	replicaClicks(t, s, "counted-b", int64(clicks["counted-b"]))

	var fromServer, stderr bytes.Buffer
	if err := run(t.Context(), []string{"export", "-from", s.base}, []string{"ADMIN_TOKEN=" + e2eToken}, strings.NewReader(""), &fromServer, &stderr); err != nil {
		t.Fatalf("export -from: %v; stderr: %s", err, stderr.String())
	}
	// While the process runs, its DATA_DIR is locked: export says so and where to go instead.
	err := run(t.Context(), []string{"export"}, []string{"DATA_DIR=" + dir}, strings.NewReader(""), &bytes.Buffer{}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "another redirector") || !strings.Contains(err.Error(), "-from") {
		t.Errorf("export from a DATA_DIR in use = %v, want an error saying another redirector holds it and naming -from", err)
	}
	if err := s.stop(t); err != nil {
		t.Fatalf("stop: %v", err)
	}
	var fromDir bytes.Buffer
	if err := run(t.Context(), []string{"export"}, []string{"DATA_DIR=" + dir}, strings.NewReader(""), &fromDir, &stderr); err != nil {
		t.Fatalf("export from DATA_DIR: %v; stderr: %s", err, stderr.String())
	}
	sorted := func(b bytes.Buffer) []string {
		lines := strings.Split(strings.TrimSpace(b.String()), "\n")
		slices.Sort(lines)
		return lines
	}
	if a, b := sorted(fromServer), sorted(fromDir); !slices.Equal(a, b) {
		t.Errorf("export -from the running process and export from its DATA_DIR differ:\n%s\n---\n%s", strings.Join(a, "\n"), strings.Join(b, "\n"))
	}
	for _, want := range []string{`"id":"counted-a"`, `"clicks":5`, `"clicks":3,"scans":1`} {
		if !strings.Contains(fromDir.String(), want) {
			t.Errorf("export lacks %s:\n%s", want, fromDir.String())
		}
	}

	rs := redistest.Start(t)
	environ := []string{"REDIS_URL=" + rs.URL}
	dump := fromDir.String()
	for _, round := range []string{"first import", "the same file again"} {
		stderr.Reset()
		if err := run(t.Context(), []string{"import"}, environ, strings.NewReader(dump), &bytes.Buffer{}, &stderr); err != nil {
			t.Fatalf("%s: %v; stderr: %s", round, err, stderr.String())
		}
		rdb, err := store.Connect(t.Context(), rs.URL, store.ConnectOptions{})
		if err != nil {
			t.Fatalf("connect: %v", err)
		}
		ids := []string{"counted-a", "counted-b", "never-clicked"}
		totals, err := store.NewCounters(rdb, 0).Totals(t.Context(), ids)
		rdb.Close()
		if err != nil {
			t.Fatalf("Totals: %v", err)
		}
		for i, id := range ids {
			wantScans := int64(0)
			if id == "counted-b" {
				wantScans = 1
			}
			if totals[i].Clicks != int64(clicks[id]) || totals[i].Scans != wantScans {
				t.Errorf("after the %s, %s in Redis has %d clicks and %d scans, want %d and %d", round, id, totals[i].Clicks, totals[i].Scans, clicks[id], wantScans)
			}
		}
	}
	if !strings.Contains(stderr.String(), "3 unchanged") || strings.Contains(stderr.String(), "raised") {
		t.Errorf("importing the same file again said %q, want 3 unchanged and no totals raised", stderr.String())
	}

	// A file made before exports carried counts still imports.
	old := `{"id":"old-file","target":"https://www.aliexpress.com/store/912345","created_at":"2026-01-02T03:04:05Z","updated_at":"2026-01-02T03:04:05Z"}` + "\n"
	if err := run(t.Context(), []string{"import"}, environ, strings.NewReader(old), &bytes.Buffer{}, &stderr); err != nil {
		t.Errorf("import of a line without counts: %v", err)
	}
}
