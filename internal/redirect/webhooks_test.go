package redirect

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redirector/redirector/internal/webhook"
)

// hookReceiver is a webhook receiver on a loopback TLS port. It checks each delivery's signature with
// webhook.Verify and records the events; while hold is open, every request waits on it (a hanging receiver).
type hookReceiver struct {
	srv *httptest.Server

	mu      sync.Mutex // guards the fields below
	secret  string
	events  []hookEvent
	bad     []string
	entered int           // requests that arrived
	hold    chan struct{} // nil: answer at once
}

type hookEvent struct {
	Event string          `json:"event"`
	ID    string          `json:"id"`
	Data  json.RawMessage `json:"data"`
}

func newHookReceiver(t *testing.T) *hookReceiver {
	h := &hookReceiver{}
	h.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		h.entered++
		hold, secret := h.hold, h.secret
		h.mu.Unlock()
		if hold != nil {
			<-hold
		}
		var ev hookEvent
		err := webhook.Verify(secret, r.Header.Get(webhook.SignatureHeader), body, time.Now(), webhook.Tolerance)
		if err == nil {
			err = json.Unmarshal(body, &ev)
		}
		h.mu.Lock()
		defer h.mu.Unlock()
		if err != nil {
			h.bad = append(h.bad, err.Error())
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		h.events = append(h.events, ev)
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hookReceiver) options() *webhook.Options {
	return &webhook.Options{
		AllowPrivate: true, TLSConfig: h.srv.Client().Transport.(*http.Transport).TLSClientConfig.Clone(),
		Backoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond, Poll: 5 * time.Millisecond,
		Timeout: 20 * time.Second,
	}
}

func (h *hookReceiver) seen() ([]hookEvent, []string, int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]hookEvent(nil), h.events...), append([]string(nil), h.bad...), h.entered
}

// waitUntil polls cond until it holds or 10 s pass.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

type hookReply struct {
	ID        string    `json:"id"`
	URL       string    `json:"url"`
	Events    []string  `json:"events"`
	Secret    string    `json:"secret"`
	CreatedAt time.Time `json:"created_at"`
}

func (e *env) registerHook(h *hookReceiver, events ...string) hookReply {
	e.t.Helper()
	ev, _ := json.Marshal(events)
	r := e.api(http.MethodPost, "/api/webhooks", fmt.Sprintf(`{"url":%q,"events":%s}`, h.srv.URL+"/in", ev))
	if r.status != http.StatusCreated {
		e.t.Fatalf("POST /api/webhooks = %s, want 201", r)
	}
	var hr hookReply
	decode(e.t, r, &hr)
	h.mu.Lock()
	h.secret = hr.Secret
	h.mu.Unlock()
	return hr
}

// The webhook routes: register (the secret once), list, link events signed and delivered, the deliveries
// listed, delete; bad input answered 400 with a reason.
func TestWebhookAPI(t *testing.T) {
	t.Parallel()
	rcv := newHookReceiver(t)
	e := newEnv(t, envOptions{Webhooks: rcv.options()})
	hook := e.registerHook(rcv, "link.created", "link.updated", "link.deleted")
	if !strings.HasPrefix(hook.ID, "wh_") || !strings.HasPrefix(hook.Secret, "whsec_") || len(hook.Events) != 3 {
		t.Fatalf("registered %+v, want an id, a secret and 3 events", hook)
	}
	var list struct {
		Webhooks []hookReply `json:"webhooks"`
	}
	decode(t, e.api(http.MethodGet, "/api/webhooks", ""), &list)
	if len(list.Webhooks) != 1 || list.Webhooks[0].ID != hook.ID || list.Webhooks[0].Secret != "" {
		t.Fatalf("GET /api/webhooks = %+v, want the hook without its secret", list)
	}

	l := e.create(fmt.Sprintf(`{"url":%q}`, product(301)), http.StatusCreated)
	e.create(fmt.Sprintf(`{"url":%q}`, product(301)), http.StatusOK) // the same link again: no event
	if r := e.api(http.MethodPatch, "/api/links/"+l.ID, fmt.Sprintf(`{"url":%q}`, product(302))); r.status != http.StatusOK {
		t.Fatalf("PATCH = %s", r)
	}
	if r := e.api(http.MethodDelete, "/api/links/"+l.ID, ""); r.status != http.StatusNoContent {
		t.Fatalf("DELETE = %s", r)
	}
	waitUntil(t, "three events", func() bool { ev, _, _ := rcv.seen(); return len(ev) >= 3 })
	events, bad, _ := rcv.seen()
	if len(bad) > 0 {
		t.Fatalf("receiver refused deliveries: %q", bad)
	}
	got := map[string]string{}
	for _, ev := range events {
		var d struct {
			ID     string `json:"id"`
			Target string `json:"target"`
		}
		if err := json.Unmarshal(ev.Data, &d); err != nil || d.ID != l.ID {
			t.Errorf("%s data = %s, want the link %s", ev.Event, ev.Data, l.ID)
		}
		got[ev.Event] = d.Target
	}
	if len(events) != 3 || got["link.created"] == "" || got["link.updated"] == got["link.created"] {
		t.Errorf("events = %+v, want link.created, link.updated (new target) and link.deleted once each", events)
	}
	if _, ok := got["link.deleted"]; !ok {
		t.Errorf("no link.deleted among %+v", events)
	}

	var ds struct {
		Deliveries []struct {
			ID          string     `json:"id"`
			Event       string     `json:"event"`
			State       string     `json:"state"`
			CreatedAt   time.Time  `json:"created_at"`
			Attempts    int        `json:"attempts"`
			LastStatus  int        `json:"last_status"`
			LastError   string     `json:"last_error"`
			NextRetry   *time.Time `json:"next_retry"`
			DeliveredAt *time.Time `json:"delivered_at"`
		} `json:"deliveries"`
	}
	waitUntil(t, "three deliveries recorded", func() bool {
		decode(t, e.api(http.MethodGet, "/api/webhooks/"+hook.ID+"/deliveries", ""), &ds)
		n := 0
		for _, d := range ds.Deliveries {
			if d.State == "delivered" {
				n++
			}
		}
		return n == 3
	})
	for _, d := range ds.Deliveries {
		if d.Attempts != 1 || d.LastStatus != 200 || d.DeliveredAt == nil || d.NextRetry != nil {
			t.Errorf("delivery %+v, want delivered at the first attempt", d)
		}
	}
	if orphans := e.orphanKeys(); len(orphans) > 0 {
		t.Errorf("keys without owner or expiry:\n  %s", strings.Join(orphans, "\n  "))
	}

	bad400 := []struct{ name, body, reason string }{
		{"not https", `{"url":"ftp://example.com/x","events":["link.created"]}`, "https"},
		{"unknown event", `{"url":"https://example.com/x","events":["link.clicked"]}`, "unknown event"},
		{"no events", `{"url":"https://example.com/x","events":[]}`, "at least one"},
		{"unknown field", `{"url":"https://example.com/x","events":["link.created"],"secret":"x"}`, "unknown field"},
	}
	for _, tc := range bad400 {
		msg := apiError(t, tc.name, e.api(http.MethodPost, "/api/webhooks", tc.body), http.StatusBadRequest)
		if !strings.Contains(msg, tc.reason) {
			t.Errorf("%s: error %q, want it to say %q", tc.name, msg, tc.reason)
		}
	}
	apiError(t, "DELETE malformed id", e.api(http.MethodDelete, "/api/webhooks/nope", ""), http.StatusNotFound)
	apiError(t, "deliveries of unknown", e.api(http.MethodGet, "/api/webhooks/wh_0000000000000000/deliveries", ""), http.StatusNotFound)
	if r := e.api(http.MethodDelete, "/api/webhooks/"+hook.ID, ""); r.status != http.StatusNoContent {
		t.Fatalf("DELETE /api/webhooks/%s = %s, want 204", hook.ID, r)
	}
	apiError(t, "DELETE again", e.api(http.MethodDelete, "/api/webhooks/"+hook.ID, ""), http.StatusNotFound)
	if r := e.request(http.MethodGet, "/api/webhooks", nil); r.status != http.StatusUnauthorized {
		t.Errorf("GET /api/webhooks without a token = %s, want 401", r)
	}
}

// A receiver that hangs holds up no click and no API call: emitting is an enqueue, and the attempts run
// apart. While every attempt so far waits on the receiver, links are created, clicked and listed.
func TestWebhookHangingReceiver(t *testing.T) {
	t.Parallel()
	rcv := newHookReceiver(t)
	release := make(chan struct{})
	rcv.hold = release
	e := newEnv(t, envOptions{Webhooks: rcv.options()})
	e.registerHook(rcv, "link.created")
	first := e.create(fmt.Sprintf(`{"url":%q}`, product(310)), http.StatusCreated)
	waitUntil(t, "the receiver to hold the first delivery", func() bool { _, _, n := rcv.seen(); return n >= 1 })
	for i := range 20 {
		l := e.create(fmt.Sprintf(`{"url":%q}`, product(311+i)), http.StatusCreated)
		if r := e.get("/" + l.ID); r.status != http.StatusFound {
			t.Fatalf("click /%s while the receiver hangs = %s, want 302", l.ID, r)
		}
	}
	if r := e.get("/" + first.ID); r.status != http.StatusFound {
		t.Fatalf("click /%s = %s", first.ID, r)
	}
	if r := e.api(http.MethodGet, "/api/links", ""); r.status != http.StatusOK {
		t.Fatalf("GET /api/links = %s", r)
	}
	// Everything above finished while the receiver still held its requests: none was answered yet.
	if events, _, _ := rcv.seen(); len(events) != 0 {
		t.Fatalf("the receiver answered %d deliveries before it was released; the test proves nothing", len(events))
	}
	close(release)
	waitUntil(t, "all 21 deliveries after the release", func() bool { ev, _, _ := rcv.seen(); return len(ev) == 21 })
	if _, bad, _ := rcv.seen(); len(bad) > 0 {
		t.Errorf("receiver refused: %q", bad)
	}
}

// Links made by a CSV import are announced as link.created, one event each, as POST /api/links's are.
func TestWebhookImport(t *testing.T) {
	t.Parallel()
	rcv := newHookReceiver(t)
	e := newEnv(t, envOptions{Webhooks: rcv.options()})
	e.registerHook(rcv, "link.created")
	csv := fmt.Sprintf("url,slug\n%s,spring-sale\n%s,\n", product(401), product(402))
	r := e.importCSV(csv)
	var res importReply
	decode(t, r, &res)
	if r.status != http.StatusOK || res.Created != 2 || len(res.Links) != 2 {
		t.Fatalf("POST /api/import = %s, want 2 links created", r)
	}
	waitUntil(t, "two link.created events", func() bool { ev, _, _ := rcv.seen(); return len(ev) >= 2 })
	events, bad, _ := rcv.seen()
	if len(bad) > 0 {
		t.Fatalf("receiver refused deliveries: %q", bad)
	}
	ids := map[string]bool{}
	for _, ev := range events {
		var d struct {
			ID string `json:"id"`
		}
		if ev.Event != "link.created" || json.Unmarshal(ev.Data, &d) != nil {
			t.Errorf("event %s %s, want link.created with a link", ev.Event, ev.Data)
		}
		ids[d.ID] = true
	}
	if len(events) != 2 || !ids[res.Links[0].ID] || !ids[res.Links[1].ID] {
		t.Errorf("events %+v, want link.created for %s and %s", events, res.Links[0].ID, res.Links[1].ID)
	}
}
