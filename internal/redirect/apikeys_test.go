package redirect

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/redirector/redirector/internal/apikey"
	"github.com/redirector/redirector/internal/webhook"
)

// publicAPI are the /api/ routes that need no token.
var publicAPI = map[string]bool{"GET /api/openapi.json": true}

// apiRoutes lists the /api/ routes the service registers, with the scope of each.
func apiRoutes(t *testing.T, e *env) []route {
	t.Helper()
	d := Deps{AdminToken: testToken, Keys: e.keys, Bio: BioDeps{Pages: e.pages}, Metrics: e.metrics}
	if e.webhooks != nil { // a nil *webhook.Service in the interface would not be nil
		d.Webhooks = e.webhooks
	}
	_, all := newRoutes(d)
	var out []route
	for _, rt := range all {
		if isAPI(rt.path) {
			out = append(out, rt)
		}
	}
	if len(out) < 15 {
		t.Fatalf("newRoutes lists %d /api/ routes: %v", len(out), out)
	}
	return out
}

// docPath is an httprouter path in the OpenAPI document's form: /api/links/:id → /api/links/{id}.
func docPath(p string) string {
	parts := strings.Split(p, "/")
	for i, s := range parts {
		if strings.HasPrefix(s, ":") {
			parts[i] = "{" + s[1:] + "}"
		}
	}
	return strings.Join(parts, "/")
}

// samplePath fills a route's parameters with values of the right form that name nothing.
func samplePath(p string) string {
	return strings.NewReplacer(":id", "abcdefgh", ":handle", "nobody").Replace(p)
}

// newKey creates an API key through the API with the admin token and returns the key itself.
func (e *env) newKey(name string, scopes ...apikey.Scope) (id, key string) {
	e.t.Helper()
	b, _ := json.Marshal(map[string]any{"name": name, "scopes": scopes})
	r := e.api(http.MethodPost, "/api/keys", string(b))
	if r.status != http.StatusCreated {
		e.t.Fatalf("POST /api/keys %s = %s, want 201", b, r)
	}
	var k struct {
		ID  string `json:"id"`
		Key string `json:"key"`
	}
	if err := json.Unmarshal(r.body, &k); err != nil || k.Key == "" {
		e.t.Fatalf("POST /api/keys = %s: no key (%v)", r, err)
	}
	return k.ID, k.Key
}

func bearer(key string) []string { return []string{"Authorization", "Bearer " + key} }

// TestRoutesDocumented: every /api/ route the service registers is in the OpenAPI document with the
// same scope, and every operation of the document is a route.
func TestRoutesDocumented(t *testing.T) {
	t.Parallel()
	// The webhook routes exist only with webhooks on.
	e := newEnv(t, envOptions{Webhooks: &webhook.Options{}})
	doc := apiDoc(t)
	registered := map[string]bool{}
	for _, rt := range apiRoutes(t, e) {
		name := rt.method + " " + docPath(rt.path)
		registered[name] = true
		scope, ok, err := doc.Scope(rt.method, docPath(rt.path))
		switch {
		case err != nil:
			t.Errorf("%s: %v", name, err)
		case !ok:
			t.Errorf("%s is a route but not in the OpenAPI document (internal/openapi/api/)", name)
		case scope != string(rt.scope):
			t.Errorf("%s: the document's scope is %q, the route's %q", name, scope, rt.scope)
		}
		if rt.scope == "" && !publicAPI[rt.method+" "+rt.path] {
			t.Errorf("%s has no scope: register it as api(scope, handler)", name)
		}
	}
	for path, item := range doc.Doc.Paths.Map() {
		for method := range item.Operations() {
			if !registered[method+" "+path] {
				t.Errorf("the OpenAPI document has %s %s, which is no route", method, path)
			}
		}
	}
}

// TestUndocumentedFails: the validator refuses what the document does not describe, so the tests'
// checks cannot pass by default.
func TestUndocumentedFails(t *testing.T) {
	t.Parallel()
	doc := apiDoc(t)
	jsonH := http.Header{"Content-Type": {"application/json; charset=utf-8"}}
	tests := []struct {
		name, method, path string
		status             int
		body               string
		ok                 bool
	}{
		{"undocumented route answered", http.MethodGet, "/api/undocumented", 200, `{"a":1}`, false},
		{"undocumented route refused", http.MethodGet, "/api/undocumented", 404, `{"error":"no such endpoint"}`, true},
		{"undocumented status", http.MethodGet, "/api/links", 418, `{"error":"teapot"}`, false},
		{"undocumented field", http.MethodGet, "/api/keys", 200, `{"keys":[],"extra":1}`, false},
		{"error without message", http.MethodGet, "/api/keys", 401, `{}`, false},
		{"documented", http.MethodGet, "/api/keys", 200, `{"keys":[]}`, true},
		// OpenAPI 3.1's type arrays (JSON Schema 2020-12): null is allowed where the document says so.
		{"null allowed", http.MethodGet, "/api/keys", 200, `{"keys":[{"id":"0123456789abcdef","name":"a","scopes":["links:read"],"created_at":"2026-11-30T12:00:00Z","last_used_at":null}]}`, true},
		{"number refused", http.MethodGet, "/api/keys", 200, `{"keys":[{"id":"0123456789abcdef","name":"a","scopes":["links:read"],"created_at":"2026-11-30T12:00:00Z","last_used_at":5}]}`, false},
		{"unknown scope refused", http.MethodGet, "/api/keys", 200, `{"keys":[{"id":"0123456789abcdef","name":"a","scopes":["links:all"],"created_at":"2026-11-30T12:00:00Z","last_used_at":null}]}`, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, "http://127.0.0.1"+tc.path, nil)
			err := doc.Check(req, nil, tc.status, jsonH, []byte(tc.body))
			if (err == nil) != tc.ok {
				t.Errorf("Check(%s %s → %d %s) = %v, want ok %v", tc.method, tc.path, tc.status, tc.body, err, tc.ok)
			}
		})
	}
}

// TestRouteScopes: for every /api/ route, a key holding every scope but the route's gets 403 naming
// it, and a key holding the route's scope alone gets past the guard. A new route without a scope
// fails here (and in TestRoutesDocumented).
func TestRouteScopes(t *testing.T) {
	t.Parallel()
	// The webhook routes exist only with webhooks on.
	e := newEnv(t, envOptions{Webhooks: &webhook.Options{}})
	keys := map[apikey.Scope]string{}    // a key holding the scope alone
	without := map[apikey.Scope]string{} // a key holding every scope but it
	for _, s := range apikey.Scopes {
		_, keys[s] = e.newKey("only-"+strings.ReplaceAll(string(s), ":", "-"), s)
		var others []apikey.Scope
		for _, o := range apikey.Scopes {
			if o != s {
				others = append(others, o)
			}
		}
		_, without[s] = e.newKey("not-"+strings.ReplaceAll(string(s), ":", "-"), others...)
	}
	for _, rt := range apiRoutes(t, e) {
		t.Run(rt.method+" "+rt.path, func(t *testing.T) {
			if publicAPI[rt.method+" "+rt.path] {
				if r := e.request(rt.method, rt.path, nil); r.status != http.StatusOK {
					t.Errorf("%s %s without a token = %s, want 200", rt.method, rt.path, r)
				}
				return
			}
			if rt.scope == "" {
				t.Fatalf("%s %s has no scope", rt.method, rt.path)
			}
			path := samplePath(rt.path)
			msg := apiError(t, rt.method+" "+path+" without the scope", e.request(rt.method, path, nil, bearer(without[rt.scope])...), http.StatusForbidden)
			if !strings.Contains(msg, string(rt.scope)) {
				t.Errorf("%s %s: 403 message %q does not name the scope %s", rt.method, path, msg, rt.scope)
			}
			r := e.request(rt.method, path, nil, bearer(keys[rt.scope])...)
			if r.status == http.StatusUnauthorized || r.status == http.StatusForbidden {
				t.Errorf("%s %s with a key of scope %s = %s, want past the guard", rt.method, path, rt.scope, r)
			}
			if r := e.request(rt.method, path, nil, bearer("rdk_0123456789abcdef_"+strings.Repeat("A", 43))...); r.status != http.StatusUnauthorized {
				t.Errorf("%s %s with an unknown key = %s, want 401", rt.method, path, r)
			}
		})
	}
}

func TestAPIKeys(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	id, key := e.newKey("wp", apikey.LinksWrite, apikey.LinksRead)

	// The key works within its scopes, and a 403 names the missing one.
	l := e.request(http.MethodPost, "/api/links", strings.NewReader(fmt.Sprintf(`{"url":%q}`, product(4001))), bearer(key)...)
	if l.status != http.StatusCreated {
		t.Fatalf("POST /api/links with the key = %s, want 201", l)
	}
	if r := e.get("/api/links", bearer(key)...); r.status != http.StatusOK {
		t.Errorf("GET /api/links with the key = %s, want 200", r)
	}
	if msg := apiError(t, "GET /api/stats", e.get("/api/stats", bearer(key)...), http.StatusForbidden); !strings.Contains(msg, "stats:read") {
		t.Errorf("403 message %q does not name stats:read", msg)
	}

	// Shown once: the list has neither the key nor its hash; the store has the hash alone.
	list := e.api(http.MethodGet, "/api/keys", "")
	var got struct {
		Keys []struct {
			ID, Name   string
			Scopes     []string
			LastUsedAt *time.Time `json:"last_used_at"`
		}
	}
	if err := json.Unmarshal(list.body, &got); err != nil || len(got.Keys) != 1 || got.Keys[0].ID != id || got.Keys[0].Name != "wp" {
		t.Fatalf("GET /api/keys = %s (%v), want the key wp", list, err)
	}
	// rdk_<id>_<secret>: the secret is base64url and may itself hold '_', so it is all after the second one.
	parts := strings.SplitN(key, "_", 3)
	if len(parts) != 3 || len(parts[2]) < 20 {
		t.Fatalf("key %q is not rdk_<id>_<secret>", key)
	}
	secret := parts[2]
	if strings.Contains(string(list.body), secret) {
		t.Errorf("GET /api/keys shows the key: %s", list)
	}
	stored, err := e.rdb.HGetAll(context.Background(), "rd:v1:apikeys").Result()
	if err != nil {
		t.Fatal(err)
	}
	for f, v := range stored {
		if strings.Contains(f+v, secret) {
			t.Errorf("the store holds the key itself in %s", f)
		}
	}

	// Last used: written off the request's path, read back in the list.
	waitFor(t, "last_used_at set", func() bool {
		var l struct {
			Keys []struct {
				LastUsedAt *time.Time `json:"last_used_at"`
			}
		}
		_ = json.Unmarshal(e.api(http.MethodGet, "/api/keys", "").body, &l)
		return len(l.Keys) == 1 && l.Keys[0].LastUsedAt != nil
	})

	// Bad input.
	for _, tc := range []struct {
		body string
		want int
	}{
		{`{"name":"WP","scopes":["links:read"]}`, http.StatusConflict},
		{`{"name":"x","scopes":["links:delete"]}`, http.StatusBadRequest},
		{`{"name":"x","scopes":[]}`, http.StatusBadRequest},
		{`{"name":"has space","scopes":["links:read"]}`, http.StatusBadRequest},
		{`{"name":"x","scopes":["links:read"],"admin":true}`, http.StatusBadRequest},
	} {
		apiError(t, "POST /api/keys "+tc.body, e.api(http.MethodPost, "/api/keys", tc.body), tc.want)
	}

	// A wrong secret for a live id is refused.
	wrong := key[:len(key)-4] + "AAAA"
	if wrong == key {
		wrong = key[:len(key)-4] + "BBBB"
	}
	apiError(t, "wrong secret", e.get("/api/links", bearer(wrong)...), http.StatusUnauthorized)

	// Revoked: 401 at once; a second revoke 404.
	if r := e.api(http.MethodDelete, "/api/keys/"+id, ""); r.status != http.StatusNoContent {
		t.Fatalf("DELETE /api/keys/%s = %s, want 204", id, r)
	}
	apiError(t, "revoked key", e.get("/api/links", bearer(key)...), http.StatusUnauthorized)
	apiError(t, "revoke again", e.api(http.MethodDelete, "/api/keys/"+id, ""), http.StatusNotFound)
	if n, _ := e.rdb.HLen(context.Background(), "rd:v1:apikeys").Result(); n != 0 {
		t.Errorf("after revoking the only key the store keeps %d fields", n)
	}
}

// TestKeyRevokedOnEveryReplica: a key revoked on one replica is refused by another within 1 s
// (at once: lookups are not cached).
func TestKeyRevokedOnEveryReplica(t *testing.T) {
	t.Parallel()
	a := newEnv(t, envOptions{})
	b := a.restart()
	id, key := a.newKey("replicas", apikey.LinksRead)
	if r := b.get("/api/links", bearer(key)...); r.status != http.StatusOK {
		t.Fatalf("the key on the other replica = %s, want 200", r)
	}
	if r := a.api(http.MethodDelete, "/api/keys/"+id, ""); r.status != http.StatusNoContent {
		t.Fatalf("revoke = %s", r)
	}
	revoked := time.Now()
	for {
		r := b.get("/api/links", bearer(key)...)
		if r.status == http.StatusUnauthorized {
			break
		}
		if time.Since(revoked) > time.Second {
			t.Fatalf("1 s after the revocation the other replica still answers %s", r)
		}
	}
	t.Logf("revocation seen by the other replica after %v", time.Since(revoked))
}

// TestKeyFailedLogins: an unknown or revoked key spends the client's failed logins like a wrong admin
// token; the admin token still passes.
func TestKeyFailedLogins(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{Limits: &LimitOptions{AuthFailures: 2, TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}})
	unknown := "rdk_0123456789abcdef_" + strings.Repeat("A", 43)
	h := append(bearer(unknown), "X-Forwarded-For", "203.0.113.9")
	apiError(t, "unknown key 1", e.get("/api/links", h...), http.StatusUnauthorized)
	apiError(t, "unknown key 2", e.get("/api/links", h...), http.StatusUnauthorized)
	apiError(t, "unknown key 3", e.get("/api/links", h...), http.StatusTooManyRequests)
	if r := e.get("/api/links", "Authorization", "Bearer "+testToken, "X-Forwarded-For", "203.0.113.9"); r.status != http.StatusOK {
		t.Errorf("admin token past the failed logins = %s, want 200", r)
	}
}

// TestKeysWithoutAdminToken: keys made with the CLI serve while ADMIN_TOKEN is unset; anything else
// gets 403 as before.
func TestKeysWithoutAdminToken(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{NoAdmin: true})
	_, key, err := e.keys.Create(context.Background(), "cli", []apikey.Scope{apikey.LinksRead}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if r := e.get("/api/links", bearer(key)...); r.status != http.StatusOK {
		t.Errorf("key without ADMIN_TOKEN = %s, want 200", r)
	}
	apiError(t, "other token without ADMIN_TOKEN", e.get("/api/links", bearer("something")...), http.StatusForbidden)
	apiError(t, "unknown key without ADMIN_TOKEN", e.get("/api/links", bearer("rdk_0123456789abcdef_"+strings.Repeat("A", 43))...), http.StatusUnauthorized)
}

func TestOpenAPIServed(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	r := e.get("/api/openapi.json")
	if r.status != http.StatusOK || !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
		t.Fatalf("GET /api/openapi.json = %s", r)
	}
	var doc struct {
		OpenAPI string         `json:"openapi"`
		Paths   map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(r.body, &doc); err != nil || doc.OpenAPI != "3.1.0" || doc.Paths["/api/keys"] == nil {
		t.Errorf("GET /api/openapi.json: openapi %q, %d paths, err %v", doc.OpenAPI, len(doc.Paths), err)
	}
	if cc := r.header.Get("Cache-Control"); !strings.Contains(cc, "max-age") || !strings.Contains(cc, "private") {
		t.Errorf("Cache-Control = %q, want private with max-age", cc)
	}
	if r2 := e.get("/api/openapi.json", "If-None-Match", r.header.Get("ETag")); r2.status != http.StatusNotModified {
		t.Errorf("If-None-Match its ETag = %s, want 304", r2)
	}
}
