package main

import (
	"bytes"
	"net/http"
	"strings"
	"testing"

	"github.com/redirector/redirector/internal/affiliate/affiliatetest"
	"github.com/redirector/redirector/internal/redistest"
)

// TestKeysCommand creates, lists and revokes a key with the CLI over the Redis a running server uses,
// and checks what the server makes of the key at each step.
func TestKeysCommand(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t)
	env := []string{"REDIS_URL=" + rs.URL}
	p, ps := affiliatetest.NewServer(affiliatetest.PlatformConfig{})
	t.Cleanup(ps.Close)
	s := startRun(t, nil, append(platformEnviron(p, ps.URL), "REDIS_URL="+rs.URL, "ADMIN_TOKEN="+e2eToken))
	keys := func(args ...string) (stdout, stderr string, err error) {
		var o, e bytes.Buffer
		err = run(t.Context(), append([]string{"keys"}, args...), env, strings.NewReader(""), &o, &e)
		return o.String(), e.String(), err
	}

	out, errOut, err := keys("create", "--name", "wp", "--scope", "links:write", "--scope", "links:read")
	if err != nil {
		t.Fatalf("keys create: %v; stderr: %s", err, errOut)
	}
	key := strings.TrimSpace(out)
	if !strings.HasPrefix(key, "rdk_") || !strings.Contains(errOut, "shown this once") {
		t.Fatalf("keys create printed %q, stderr %q: want the key alone on stdout and a warning", out, errOut)
	}
	body := `{"url":"https://www.aliexpress.com/item/1005001234567890.html"}`
	if r := s.do(t, http.MethodPost, "/api/links", body, key); r.status != http.StatusCreated {
		t.Errorf("POST /api/links with the CLI's key = %d %s, want 201", r.status, r.body)
	}
	if r := s.do(t, http.MethodGet, "/api/stats", "", key); r.status != http.StatusForbidden || !strings.Contains(r.body, "stats:read") {
		t.Errorf("GET /api/stats with the key = %d %s, want 403 naming stats:read", r.status, r.body)
	}

	if _, _, err := keys("create", "--name", "WP", "--scope", "links:read"); err == nil {
		t.Error("keys create of a name taken in another case: err = nil")
	}
	if _, _, err := keys("create", "--name", "x", "--scope", "links:delete"); err == nil {
		t.Error("keys create with an unknown scope: err = nil")
	}

	list, _, err := keys("list")
	if err != nil || !strings.Contains(list, "wp") || !strings.Contains(list, "links:read,links:write") {
		t.Fatalf("keys list = %q, %v; want the key wp with its scopes", list, err)
	}
	if strings.Contains(list, key[len(key)-43:]) {
		t.Errorf("keys list shows the key itself: %s", list)
	}

	if _, errOut, err := keys("revoke", "wp"); err != nil {
		t.Fatalf("keys revoke wp: %v; stderr %s", err, errOut)
	}
	if r := s.do(t, http.MethodGet, "/api/links", "", key); r.status != http.StatusUnauthorized {
		t.Errorf("GET /api/links with the revoked key = %d, want 401", r.status)
	}
	if _, _, err := keys("revoke", "wp"); err == nil {
		t.Error("keys revoke of a revoked key: err = nil")
	}
	if list, _, _ := keys("list"); strings.Contains(list, "wp") {
		t.Errorf("keys list after revoke = %q", list)
	}
}

// TestKeysCommandEmbedded: keys made on the embedded store (DATA_DIR, no process on it) are kept on
// disk, and the server started on it later accepts them.
func TestKeysCommandEmbedded(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	env := []string{"DATA_DIR=" + dir}
	var out, errOut bytes.Buffer
	if err := run(t.Context(), []string{"keys", "create", "--name", "sheet", "--scope", "stats:read,links:read"}, env, strings.NewReader(""), &out, &errOut); err != nil {
		t.Fatalf("keys create: %v; stderr: %s", err, errOut.String())
	}
	key := strings.TrimSpace(out.String())
	s := startRun(t, []string{"-dev"}, []string{"DATA_DIR=" + dir, "ADMIN_TOKEN=" + e2eToken})
	if r := s.do(t, http.MethodGet, "/api/stats", "", key); r.status != http.StatusOK {
		t.Errorf("GET /api/stats with the key made on the embedded store = %d %s, want 200", r.status, r.body)
	}
	if r := s.do(t, http.MethodGet, "/api/keys", "", key); r.status != http.StatusForbidden {
		t.Errorf("GET /api/keys with a key without keys:admin = %d, want 403", r.status)
	}
	if r := s.do(t, http.MethodGet, "/api/keys", "", e2eToken); r.status != http.StatusOK || !strings.Contains(r.body, `"sheet"`) {
		t.Errorf("GET /api/keys = %d %s, want the key sheet", r.status, r.body)
	}
}
