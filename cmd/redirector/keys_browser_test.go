package main

import (
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestKeysInBrowser drives the console's API keys section in headless Chromium: create a key (shown
// once, with a warning and a copy button), see it work, see it listed, revoke it; no console error
// and no CSP violation on the way.
func TestKeysInBrowser(t *testing.T) {
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("the browser test needs Chromium at %s (%v): run scripts/ensure-chromium.sh", chromiumPath, err)
	}
	svc := startConsoleService(t)
	bctx, events, shots := startBrowser(t, 1280, 1400)
	do := func(step string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(bctx, actions...); err != nil {
			t.Fatalf("%s: %v", step, err)
		}
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("read text of %s: %v", sel, err)
		}
		return s
	}
	waitJS := func(what, expr string) { t.Helper(); browserWaitJS(t, bctx, what, expr) }

	do("sign in",
		chromedp.Navigate(svc.base+"/admin"),
		chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.SendKeys(chromedp.ID("token"), svc.token),
		chromedp.Click(chromedp.CSS("#login-form button[type=submit]")),
		chromedp.WaitVisible(chromedp.ID("key-form")),
	)
	waitJS("the empty list", `!document.getElementById('keys-empty').hidden`)

	do("create a key without a scope",
		chromedp.SendKeys(chromedp.ID("key-name"), "wordpress"),
		chromedp.Click(chromedp.ID("key-create")),
		chromedp.WaitVisible(chromedp.ID("key-error")),
	)
	if got := text("#key-error"); !strings.Contains(got, "scope") {
		t.Errorf("creating a key without a scope says %q, want it to ask for one", got)
	}
	do("create a key",
		chromedp.Click(chromedp.CSS(`#key-form input[value="links:write"]`)),
		chromedp.Click(chromedp.ID("key-create")),
		chromedp.WaitVisible(chromedp.ID("key-new")),
	)
	key, err := chromedp.Run(bctx, chromedp.Value(chromedp.ID("key-new-value")))
	if err != nil || !strings.HasPrefix(key, "rdk_") {
		t.Fatalf("the new key reads %q (%v), want rdk_…", key, err)
	}
	if got := text("#key-new-warning"); !strings.Contains(got, "will not be shown again") {
		t.Errorf("the new key's warning reads %q", got)
	}
	waitJS("the key listed", `document.querySelectorAll('#key-list li.api-key').length === 1`)
	if got := text("#key-list li.api-key"); !strings.Contains(got, "wordpress") || !strings.Contains(got, "links:write") || strings.Contains(got, key) {
		t.Errorf("the key's row reads %q, want its name and scope, not the key", got)
	}
	do("copy the key", chromedp.Click(chromedp.ID("key-copy")))
	waitJS("the copy confirmed", `document.getElementById('key-copy').textContent === 'Copied'`)
	browserScreenshot(t, bctx, shots, "keys-01-created.png")

	// The key works within its scope, outside it 403.
	s := &e2eService{base: svc.base, client: &http.Client{}}
	if r := s.do(t, http.MethodPost, "/api/links", `{"url":"https://www.aliexpress.com/item/1005001234567890.html"}`, key); r.status != http.StatusCreated {
		t.Errorf("POST /api/links with the console's key = %d %s, want 201", r.status, r.body)
	}
	if r := s.do(t, http.MethodGet, "/api/links", "", key); r.status != http.StatusForbidden || !strings.Contains(r.body, "links:read") {
		t.Errorf("GET /api/links with a links:write key = %d %s, want 403 naming links:read", r.status, r.body)
	}

	do("revoke, after a confirmation",
		chromedp.Click(chromedp.CSS("#key-list li.api-key button.revoke")),
		chromedp.WaitVisible(chromedp.CSS("#key-list li.api-key .confirm .yes")),
	)
	if r := s.do(t, http.MethodPost, "/api/links", `{"url":"https://www.aliexpress.com/item/1005001234567891.html"}`, key); r.status != http.StatusCreated {
		t.Errorf("the key before the revocation is confirmed = %d, want 201", r.status)
	}
	do("confirm", chromedp.Click(chromedp.CSS("#key-list li.api-key .confirm .yes")))
	waitJS("the list empty", `document.querySelectorAll('#key-list li.api-key').length === 0 && !document.getElementById('keys-empty').hidden`)
	if r := s.do(t, http.MethodGet, "/api/links", "", key); r.status != http.StatusUnauthorized {
		t.Errorf("the revoked key = %d, want 401", r.status)
	}
	browserScreenshot(t, bctx, shots, "keys-02-revoked.png")

	events.mu.Lock()
	defer events.mu.Unlock()
	for _, p := range events.problems {
		t.Errorf("browser: %s", p)
	}
}
