package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
)

// chromiumPath is the browser the console test drives; `make test` installs it
// (scripts/ensure-chromium.sh).
const chromiumPath = "/usr/bin/chromium"

// browserUA is the User-Agent of the test's own clicks: a person's browser, so they are counted.
const browserUA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"

// consoleService is the whole redirector, started by run in -dev mode on a free port.
type consoleService struct {
	base  string
	token string
}

// consoleChannel is the channel besides the default one that the console's service may tag links with.
const consoleChannel = "flyer_2026"

// startConsoleService runs the service in -dev mode on a free loopback port until the test ends.
// Another test can take the port between the probe that found it free and the service's bind: then
// it tries again on another port, up to three times.
func startConsoleService(t *testing.T) consoleService {
	t.Helper()
	for attempt := 1; ; attempt++ {
		svc, err := tryConsoleService(t)
		if err == nil {
			return svc
		}
		if attempt == 3 || !strings.Contains(err.Error(), "address already in use") {
			t.Fatal(err)
		}
	}
}

// tryConsoleService starts the service once; an error when it stopped before serving.
func tryConsoleService(t *testing.T) (consoleService, error) {
	t.Helper()
	addr := freeAddr(t)
	svc := consoleService{base: "http://" + addr, token: "console-test-token-7Hq2"}
	environ := []string{
		"LISTEN_ADDR=" + addr,
		"BASE_URL=" + svc.base,
		"ADMIN_TOKEN=" + svc.token,
		"CLICK_FLUSH=100ms",
		// One browser clicks link B twice (once as a scan), and the console must show both.
		"CLICK_DEDUP_WINDOW=0",
		// A second channel, for the bulk "Set channel".
		"ALIEXPRESS_TRACKING_IDS=sandbox," + consoleChannel,
		"LOG_LEVEL=warn",
		"DATA_DIR=" + t.TempDir(),
	}
	ctx, cancel := context.WithCancel(context.Background())
	var out bytes.Buffer // written by run's goroutine only; read after it returned
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"-dev"}, environ, strings.NewReader(""), &out, &out) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case err := <-done:
			cancel()
			return consoleService{}, fmt.Errorf("run returned before serving: %v; output:\n%s", err, out.String())
		default:
		}
		resp, err := http.Get(svc.base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("GET /healthz did not answer 200 within 10s (last error %v)", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("run returned %v; output:\n%s", err, out.String())
			}
		case <-time.After(15 * time.Second):
			t.Errorf("run did not return within 15s of its context ending")
		}
	})
	return svc, nil
}

// visit is a person's click on a short link (with query "qr" for a scan): it must be a 302.
func (s consoleService) visit(t *testing.T, id, query string) {
	t.Helper()
	client := &http.Client{
		Timeout:       5 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	u := s.base + "/" + id
	if query != "" {
		u += "?" + query
	}
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("User-Agent", browserUA)
	req.Header.Set("Accept", "text/html,application/xhtml+xml")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("GET %s: status %d, want 302", u, resp.StatusCode)
	}
}

// link reads a link through the admin API; ok=false for a 404.
func (s consoleService) link(t *testing.T, id string) (rec struct {
	Target       string   `json:"target"`
	Clicks       int64    `json:"clicks"`
	Scans        int64    `json:"scans"`
	FallbackURL  string   `json:"fallback_url"`
	FallbackWhen string   `json:"fallback_when"`
	Labels       []string `json:"labels"`
	Channel      string   `json:"channel"`
}, ok bool) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, s.base+"/api/links/"+id, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+s.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET /api/links/%s: %v", id, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return rec, false
	}
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET /api/links/%s: status %d: %s", id, resp.StatusCode, body)
	}
	if err := json.NewDecoder(resp.Body).Decode(&rec); err != nil {
		t.Fatalf("GET /api/links/%s: decode: %v", id, err)
	}
	return rec, true
}

// create makes a link through the admin API.
func (s consoleService) create(t *testing.T, target string) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"url": target})
	if status := s.apiJSON(t, http.MethodPost, "/api/links", string(body), nil); status != http.StatusCreated {
		t.Fatalf("POST /api/links %s: status %d, want 201", target, status)
	}
}

// waitClicks waits for the click buffer's flush to show clicks and scans for id.
func (s consoleService) waitClicks(t *testing.T, id string, clicks, scans int64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		rec, ok := s.link(t, id)
		if ok && rec.Clicks == clicks && rec.Scans == scans {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("link %s: %d clicks and %d scans after 5s, want %d and %d", id, rec.Clicks, rec.Scans, clicks, scans)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// browserEvents collects what the page did that a test should look at afterwards.
type browserEvents struct {
	mu       sync.Mutex // guards the fields below; Listen's callback and the test both use them
	requests []string   // every URL the page asked for
	problems []string   // exceptions, console.error calls and security (CSP) messages
}

func (b *browserEvents) listen(ev any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch ev := ev.(type) {
	case *network.EventRequestWillBeSent:
		b.requests = append(b.requests, ev.Request.URL+" "+fmt.Sprint(ev.Request.Headers["Referer"]))
	case *runtime.EventExceptionThrown:
		b.problems = append(b.problems, "exception: "+ev.ExceptionDetails.Text+" "+exceptionDescription(ev.ExceptionDetails))
	case *runtime.EventConsoleAPICalled:
		if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeWarning {
			b.problems = append(b.problems, fmt.Sprintf("console.%s: %v", ev.Type, ev.Args))
		}
	case *log.EventEntryAdded:
		// Network errors (the 400 and 401 the test provokes) are expected; anything else is not.
		if ev.Entry.Source != log.EntrySourceNetwork && (ev.Entry.Level == log.EntryLevelError || ev.Entry.Source == log.EntrySourceSecurity) {
			b.problems = append(b.problems, fmt.Sprintf("log (%s): %s", ev.Entry.Source, ev.Entry.Text))
		}
	}
}

func exceptionDescription(d *runtime.ExceptionDetails) string {
	if d.Exception != nil {
		return d.Exception.Description
	}
	return ""
}
