package webhook

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redirector/redirector/internal/redistest"
	"github.com/redirector/redirector/internal/store"
)

// receiver is a webhook receiver on a loopback TLS port that checks every delivery's signature as the
// README tells receivers to, independently of Verify, and answers with fail's status while fail is set.
type receiver struct {
	t      *testing.T
	srv    *httptest.Server
	secret string

	mu       sync.Mutex          // guards the fields below
	fail     int                 // status to answer; 0: 204
	got      map[string][]string // delivery id → event bodies received, one per attempt
	bad      []string            // what failed verification
	attempts int
	hold     chan struct{} // when set, each request waits for it to close
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{t: t, got: map[string][]string{}}
	r.srv = httptest.NewTLSServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	hold := r.hold
	r.attempts++
	r.mu.Unlock()
	if hold != nil {
		<-hold
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.verify(req.Header.Get("Redirector-Signature"), body); err != nil {
		r.bad = append(r.bad, err.Error())
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var env struct {
		ID    string `json:"id"`
		Event string `json:"event"`
	}
	if err := json.Unmarshal(body, &env); err != nil || env.ID != req.Header.Get("Redirector-Delivery") ||
		env.Event != req.Header.Get("Redirector-Event") || req.Header.Get("Content-Type") != "application/json" {
		r.bad = append(r.bad, "body or headers wrong: "+string(body))
	}
	r.got[env.ID] = append(r.got[env.ID], string(body))
	if r.fail != 0 {
		w.WriteHeader(r.fail)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// verify is the receiver's check written from the documentation: t and v1 from the header, the HMAC
// of t + "." + body, and a timestamp at most five minutes old.
func (r *receiver) verify(header string, body []byte) error {
	var ts, sig string
	for _, part := range strings.Split(header, ",") {
		if v, ok := strings.CutPrefix(part, "t="); ok {
			ts = v
		} else if v, ok := strings.CutPrefix(part, "v1="); ok {
			sig = v
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || time.Since(time.Unix(sec, 0)) > 5*time.Minute {
		return errors.New("stale or missing timestamp: " + header)
	}
	m := hmac.New(sha256.New, []byte(r.secret))
	m.Write([]byte(ts + "." + string(body)))
	want := hex.EncodeToString(m.Sum(nil))
	if !hmac.Equal([]byte(sig), []byte(want)) {
		return errors.New("signature mismatch: " + header)
	}
	return nil
}

func (r *receiver) setFail(status int) { r.mu.Lock(); r.fail = status; r.mu.Unlock() }

func (r *receiver) snapshot() (got map[string][]string, attempts int, bad []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	got = make(map[string][]string, len(r.got))
	for k, v := range r.got {
		got[k] = append([]string(nil), v...)
	}
	return got, r.attempts, append([]string(nil), r.bad...)
}

// testOptions are fast Options for a receiver on loopback.
func testOptions(r *receiver) Options {
	tlsCfg := r.srv.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
	return Options{
		AllowPrivate: true, TLSConfig: tlsCfg,
		Backoff: 10 * time.Millisecond, MaxBackoff: 40 * time.Millisecond, Poll: 5 * time.Millisecond,
		Timeout: 2 * time.Second,
	}
}

// start runs s until the test ends or the returned stop is called; stop waits for Run to return.
func start(t *testing.T, s *Service) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.Run(ctx) }()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return stop
}

func client(t *testing.T, srv *redistest.Server) *redis.Client {
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

// waitFor polls cond until it holds or 10 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func register(t *testing.T, s *Service, r *receiver, events ...string) Hook {
	t.Helper()
	h, err := s.Register(context.Background(), r.srv.URL+"/hook", events)
	if err != nil {
		t.Fatalf("Register: %v", err)
	}
	if !strings.HasPrefix(h.Secret, "whsec_") || len(h.Secret) < 40 {
		t.Fatalf("Register's secret = %q, want whsec_ and 48 hex digits", h.Secret)
	}
	r.mu.Lock()
	r.secret = h.Secret
	r.mu.Unlock()
	return h
}

func deliveries(t *testing.T, s *Service, hook string) []Delivery {
	t.Helper()
	ds, err := s.Deliveries(context.Background(), hook)
	if err != nil {
		t.Fatalf("Deliveries(%s): %v", hook, err)
	}
	return ds
}

// A subscribed event reaches the receiver signed, with its data; an event not subscribed to does not.
func TestDeliverSigned(t *testing.T) {
	t.Parallel()
	r := newReceiver(t)
	s := New(client(t, redistest.Start(t)), testOptions(r))
	h := register(t, s, r, "link.created", "link.deleted")
	start(t, s)
	s.Emit(LinkUpdated, map[string]string{"id": "not-sent"})
	s.Emit(LinkCreated, map[string]string{"id": "abc123"})
	waitFor(t, "one delivered", func() bool {
		ds := deliveries(t, s, h.ID)
		return len(ds) == 1 && ds[0].State() == "delivered"
	})
	got, attempts, bad := r.snapshot()
	if len(bad) > 0 || attempts != 1 || len(got) != 1 {
		t.Fatalf("receiver: %d attempts, %d deliveries, bad %q; want 1, 1, none", attempts, len(got), bad)
	}
	d := deliveries(t, s, h.ID)[0]
	var body struct {
		ID    string            `json:"id"`
		Event string            `json:"event"`
		Data  map[string]string `json:"data"`
	}
	if err := json.Unmarshal([]byte(got[d.ID][0]), &body); err != nil {
		t.Fatalf("body %s: %v", got[d.ID][0], err)
	}
	if body.Event != "link.created" || body.Data["id"] != "abc123" || body.ID != d.ID {
		t.Errorf("body = %+v, want link.created of abc123 with id %s", body, d.ID)
	}
	if d.Attempts != 1 || d.Status != http.StatusNoContent || d.Delivered.IsZero() || !d.NextRetry.IsZero() {
		t.Errorf("delivery = %+v, want 1 attempt, 204, delivered, no retry", d)
	}
	hooks, err := s.List(context.Background())
	if err != nil || len(hooks) != 1 || hooks[0].Secret != "" || hooks[0].URL != r.srv.URL+"/hook" {
		t.Errorf("List = %+v, %v; want the hook without its secret", hooks, err)
	}
}

// A receiver that fails gets the same delivery again, with backoff, until it answers 2xx.
func TestRetries(t *testing.T) {
	t.Parallel()
	r := newReceiver(t)
	r.setFail(http.StatusInternalServerError)
	s := New(client(t, redistest.Start(t)), testOptions(r))
	h := register(t, s, r, "order.updated")
	start(t, s)
	s.Emit(OrderUpdated, map[string]string{"sub_order_id": "9"})
	waitFor(t, "three failed attempts", func() bool { _, n, _ := r.snapshot(); return n >= 3 })
	ds := deliveries(t, s, h.ID)
	if len(ds) != 1 || ds[0].State() != "pending" || ds[0].Status != 500 || ds[0].Error == "" {
		t.Fatalf("deliveries after failures = %+v, want one pending with status 500 and an error", ds)
	}
	r.setFail(0)
	waitFor(t, "delivered", func() bool { ds := deliveries(t, s, h.ID); return ds[0].State() == "delivered" })
	got, attempts, bad := r.snapshot()
	d := deliveries(t, s, h.ID)[0]
	if len(bad) > 0 || len(got) != 1 || len(got[d.ID]) != attempts || d.Attempts != attempts || attempts < 4 {
		t.Errorf("receiver saw %d attempts of %d deliveries (bad %q), delivery says %d attempts; want one delivery, its attempts all the same id",
			attempts, len(got), bad, d.Attempts)
	}
	for i, b := range got[d.ID] {
		if b != got[d.ID][0] {
			t.Errorf("attempt %d's body %s differs from the first %s", i, b, got[d.ID][0])
		}
	}
}

// A delivery whose retries run out is given up and leaves the queue.
func TestGiveUp(t *testing.T) {
	t.Parallel()
	r := newReceiver(t)
	r.setFail(http.StatusServiceUnavailable)
	srv := redistest.Start(t)
	opts := testOptions(r)
	opts.MaxAge = 300 * time.Millisecond
	rdb := client(t, srv)
	s := New(rdb, opts)
	h := register(t, s, r, "link.deleted")
	start(t, s)
	s.Emit(LinkDeleted, map[string]string{"id": "x"})
	waitFor(t, "given up", func() bool { ds := deliveries(t, s, h.ID); return len(ds) == 1 && ds[0].GaveUp })
	if n := rdb.ZCard(context.Background(), queueKey).Val(); n != 0 {
		t.Errorf("queue holds %d deliveries after giving up, want 0", n)
	}
	for _, key := range []string{listKey(h.ID), deliveryKey(deliveries(t, s, h.ID)[0].ID)} {
		if ttl := rdb.TTL(context.Background(), key).Val(); ttl <= 0 || ttl > opts.MaxAge+recordExtra {
			t.Errorf("TTL(%s) = %v, want an expiry within MaxAge + %v", key, ttl, recordExtra)
		}
	}
}

// A delivery queued by a process that stops is sent by the next one: the queue lives in Redis.
func TestSurvivesRestart(t *testing.T) {
	t.Parallel()
	r := newReceiver(t)
	r.setFail(http.StatusBadGateway)
	srv := redistest.Start(t)
	first := New(client(t, srv), testOptions(r))
	h := register(t, first, r, "link.updated")
	stop := start(t, first)
	first.Emit(LinkUpdated, map[string]string{"id": "r1"})
	waitFor(t, "a failed attempt", func() bool { _, n, _ := r.snapshot(); return n >= 1 })
	stop()
	before := deliveries(t, first, h.ID)
	if len(before) != 1 || before[0].State() != "pending" {
		t.Fatalf("deliveries when the first process stopped = %+v, want one pending", before)
	}
	r.setFail(0)
	second := New(client(t, srv), testOptions(r))
	start(t, second)
	waitFor(t, "delivered by the second process", func() bool {
		ds := deliveries(t, second, h.ID)
		return ds[0].State() == "delivered"
	})
	after := deliveries(t, second, h.ID)[0]
	if after.ID != before[0].ID || after.Attempts < 2 || second.Attempts() < 1 {
		t.Errorf("after restart: %+v (second made %d attempts), want %s delivered after at least 2 attempts", after, second.Attempts(), before[0].ID)
	}
}

// Two processes over one queue send each delivery once: the lease keeps the other off it.
func TestTwoReplicasDeliverOnce(t *testing.T) {
	t.Parallel()
	r := newReceiver(t)
	srv := redistest.Start(t)
	a, b := New(client(t, srv), testOptions(r)), New(client(t, srv), testOptions(r))
	register(t, a, r, "link.created")
	start(t, a)
	start(t, b)
	const n = 40
	for i := range n {
		if i%2 == 0 {
			a.Emit(LinkCreated, map[string]int{"i": i})
		} else {
			b.Emit(LinkCreated, map[string]int{"i": i})
		}
	}
	rdb := client(t, srv)
	waitFor(t, "every delivery sent", func() bool {
		got, _, _ := r.snapshot()
		return len(got) == n && rdb.ZCard(context.Background(), queueKey).Val() == 0
	})
	got, attempts, bad := r.snapshot()
	if attempts != n || a.Attempts()+b.Attempts() != n || len(bad) > 0 {
		t.Errorf("receiver saw %d attempts (replicas made %d + %d, bad %q) of %d deliveries, want exactly %d",
			attempts, a.Attempts(), b.Attempts(), bad, len(got), n)
	}
	if a.Attempts() == 0 || b.Attempts() == 0 {
		t.Logf("one replica sent everything (a %d, b %d): allowed, the lease is what is tested", a.Attempts(), b.Attempts())
	}
}

// Emit never waits: with the fan-out not running and room for one event, the rest are dropped and counted.
func TestEmitNeverBlocks(t *testing.T) {
	t.Parallel()
	s := New(client(t, redistest.Start(t)), Options{Buffer: 1})
	for range 100 {
		s.Emit(LinkCreated, map[string]string{"id": "x"})
	}
	if got := s.Dropped(); got != 99 {
		t.Errorf("Dropped() = %d after 100 events with room for 1, want 99", got)
	}
	var nilService *Service
	nilService.Emit(LinkCreated, nil) // no webhooks configured: a no-op
}

// Without AllowPrivate, only https URLs of public hosts register.
func TestRegisterRefuses(t *testing.T) {
	t.Parallel()
	s := New(client(t, redistest.Start(t)), Options{})
	ctx := context.Background()
	tests := []struct {
		name, url string
		events    []string
		reason    string
	}{
		{"http", "http://example.com/hook", []string{"link.created"}, "https"},
		{"loopback literal", "https://127.0.0.1/hook", []string{"link.created"}, "not a public address"},
		{"loopback v6", "https://[::1]:8443/hook", []string{"link.created"}, "not a public address"},
		{"localhost name", "https://localhost/hook", []string{"link.created"}, "not a public address"},
		{"private", "https://10.1.2.3/hook", []string{"link.created"}, "not a public address"},
		{"link-local metadata", "https://169.254.169.254/latest", []string{"link.created"}, "not a public address"},
		{"mapped v4", "https://[::ffff:192.168.1.1]/", []string{"link.created"}, "not a public address"},
		{"user info", "https://u:p@example.com/", []string{"link.created"}, "user name"},
		{"no host", "https:///path", []string{"link.created"}, "no host"},
		{"fragment", "https://example.com/#x", []string{"link.created"}, "fragment"},
		{"no events", "https://example.com/", nil, "at least one"},
		{"unknown event", "https://example.com/", []string{"link.clicked"}, "unknown event"},
		{"too long", "https://example.com/" + strings.Repeat("a", maxURL), []string{"link.created"}, "longer"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.Register(ctx, tc.url, tc.events)
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.reason) {
				t.Errorf("Register(%q, %q) = %v, want ErrInvalid saying %q", tc.url, tc.events, err, tc.reason)
			}
		})
	}
	if hooks, _ := s.List(ctx); len(hooks) != 0 {
		t.Errorf("List after refusals = %+v, want none", hooks)
	}
}

// A host that turns private after registration (DNS rebinding) is refused at connection time: the
// receiver never sees the delivery, and the delivery says why.
func TestDeliveryRefusesPrivateAddress(t *testing.T) {
	t.Parallel()
	r := newReceiver(t)
	srv := redistest.Start(t)
	rdb := client(t, srv)
	opts := testOptions(r)
	opts.AllowPrivate = false
	s := New(rdb, opts)
	// Written as if it had resolved to a public address when it was registered.
	h := Hook{ID: "wh_rebound", URL: r.srv.URL + "/hook", Events: []Event{LinkCreated}, Secret: "whsec_x", Created: time.Now()}
	v, _ := json.Marshal(h)
	rdb.HSet(context.Background(), hooksKey, h.ID, v)
	start(t, s)
	s.Emit(LinkCreated, map[string]string{"id": "x"})
	waitFor(t, "a refused attempt", func() bool { ds := deliveries(t, s, h.ID); return len(ds) == 1 && ds[0].Attempts >= 1 })
	d := deliveries(t, s, h.ID)[0]
	if !strings.Contains(d.Error, "non-public") || d.State() != "pending" {
		t.Errorf("delivery = %+v, want pending with a non-public address error", d)
	}
	if _, n, _ := r.snapshot(); n != 0 {
		t.Errorf("receiver on loopback got %d requests, want 0", n)
	}
}

func TestPublic(t *testing.T) {
	tests := []struct {
		addr string
		want bool
	}{
		{"8.8.8.8", true}, {"2606:4700::1111", true}, {"93.184.216.34", true},
		{"127.0.0.1", false}, {"::1", false}, {"10.0.0.1", false}, {"172.16.5.4", false}, {"192.168.0.1", false},
		{"169.254.169.254", false}, {"fe80::1", false}, {"fc00::1", false}, {"100.64.0.1", false}, {"0.0.0.0", false},
		{"::", false}, {"224.0.0.1", false}, {"255.255.255.255", false}, {"::ffff:127.0.0.1", false},
		{"64:ff9b::a00:1", false}, {"2002:a00:1::", false}, {"198.18.0.1", false}, {"192.0.2.1", false},
	}
	for _, tc := range tests {
		if got := Public(netip.MustParseAddr(tc.addr)); got != tc.want {
			t.Errorf("Public(%s) = %v, want %v", tc.addr, got, tc.want)
		}
	}
}

func TestVerify(t *testing.T) {
	now := time.Now()
	body := []byte(`{"id":"dlv_1"}`)
	sig := Sign("whsec_k", now, body)
	tests := []struct {
		name   string
		secret string
		header string
		body   []byte
		at     time.Time
		ok     bool
	}{
		{"genuine", "whsec_k", sig, body, now, true},
		{"a minute later", "whsec_k", sig, body, now.Add(time.Minute), true},
		{"replayed after 6 minutes", "whsec_k", sig, body, now.Add(6 * time.Minute), false},
		{"other secret", "whsec_j", sig, body, now, false},
		{"body changed", "whsec_k", sig, []byte(`{"id":"dlv_2"}`), now, false},
		{"no timestamp", "whsec_k", sig[strings.Index(sig, ",")+1:], body, now, false},
		{"empty", "whsec_k", "", body, now, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := Verify(tc.secret, tc.header, tc.body, tc.at, Tolerance)
			if (err == nil) != tc.ok {
				t.Errorf("Verify(%q, %q) = %v, want ok=%v", tc.secret, tc.header, err, tc.ok)
			}
		})
	}
}

func TestBackoff(t *testing.T) {
	s := New(nil, Options{Backoff: time.Second, MaxBackoff: 8 * time.Second})
	for n, want := range []time.Duration{1, 1, 2, 4, 8, 8, 8} {
		if n == 0 {
			continue
		}
		want *= time.Second
		for range 50 {
			if got := s.backoff(n); got < want/2 || got > want {
				t.Fatalf("backoff(%d) = %v, want within [%v, %v]", n, got, want/2, want)
			}
		}
	}
}

// The embedded store (redirector -dev, no REDIS_URL) runs the same queue: a failed delivery is retried
// and delivered, and the queue is kept on disk.
func TestEmbeddedStore(t *testing.T) {
	t.Parallel()
	rdb, closeStore, err := store.Embedded(t.TempDir())
	if err != nil {
		t.Fatalf("store.Embedded: %v", err)
	}
	t.Cleanup(closeStore)
	r := newReceiver(t)
	r.setFail(http.StatusInternalServerError)
	s := New(rdb, testOptions(r))
	h := register(t, s, r, "link.created")
	start(t, s)
	s.Emit(LinkCreated, map[string]string{"id": "e1"})
	waitFor(t, "two failed attempts", func() bool { _, n, _ := r.snapshot(); return n >= 2 })
	r.setFail(0)
	waitFor(t, "delivered", func() bool { ds := deliveries(t, s, h.ID); return len(ds) == 1 && ds[0].State() == "delivered" })
	if _, _, bad := r.snapshot(); len(bad) > 0 {
		t.Errorf("receiver refused: %q", bad)
	}
}

// An attempt that outlived its lease (another process took the delivery meanwhile) records nothing: the
// other process's attempt is the one that counts, and the delivery stays queued under its lease.
func TestLeaseLost(t *testing.T) {
	t.Parallel()
	r := newReceiver(t)
	srv := redistest.Start(t)
	rdb := client(t, srv)
	s := New(rdb, testOptions(r))
	h := register(t, s, r, "link.created")
	ctx := context.Background()
	if err := s.enqueue(ctx, pending{event: LinkCreated, data: json.RawMessage(`{}`), at: time.Now()}); err != nil {
		t.Fatalf("enqueue: %v", err)
	}
	id := deliveries(t, s, h.ID)[0].ID
	now := time.Now()
	mine, theirs := now.Add(time.Minute).UnixMilli(), now.Add(2*time.Minute).UnixMilli()
	if n, err := claimScript.Run(ctx, rdb, []string{queueKey}, id, now.UnixMilli(), mine).Int(); err != nil || n != 1 {
		t.Fatalf("claim = %d, %v; want 1", n, err)
	}
	rdb.ZAdd(ctx, queueKey, redis.Z{Score: float64(theirs), Member: id}) // the lease ran out and another took it
	s.attempt(ctx, id, mine)
	if _, n, _ := r.snapshot(); n != 1 {
		t.Fatalf("receiver got %d requests, want the 1 attempt", n)
	}
	d := deliveries(t, s, h.ID)[0]
	if d.Attempts != 0 || d.State() != "pending" {
		t.Errorf("delivery after an attempt under a lost lease = %+v, want it untouched (0 attempts, pending)", d)
	}
	if at := rdb.ZScore(ctx, queueKey, id).Val(); int64(at) != theirs {
		t.Errorf("queue time = %v, want the other process's lease %d", at, theirs)
	}
	// Under its own lease, the same attempt is recorded.
	s.attempt(ctx, id, theirs)
	if d := deliveries(t, s, h.ID)[0]; d.Attempts != 1 || d.State() != "delivered" {
		t.Errorf("delivery after an attempt under its lease = %+v, want delivered after 1 attempt", d)
	}
	if n := rdb.ZCard(ctx, queueKey).Val(); n != 0 {
		t.Errorf("queue holds %d after delivery, want 0", n)
	}
}

// Stopping does not wait for a receiver that hangs: the attempt is cut short, recorded as failed and
// queued again, for the next process.
func TestStopCutsHangingAttempt(t *testing.T) {
	t.Parallel()
	r := newReceiver(t)
	hold := make(chan struct{})
	r.hold = hold
	t.Cleanup(func() { close(hold) }) // before the receiver's server closes
	opts := testOptions(r)
	opts.Timeout = time.Hour
	s := New(client(t, redistest.Start(t)), opts)
	h := register(t, s, r, "link.created")
	stop := start(t, s)
	s.Emit(LinkCreated, map[string]string{"id": "slow"})
	waitFor(t, "the receiver to hold the attempt", func() bool { _, n, _ := r.snapshot(); return n == 1 })
	stopped := make(chan struct{})
	go func() { stop(); close(stopped) }()
	waitFor(t, "Run to return while the receiver still hangs", func() bool {
		select {
		case <-stopped:
			return true
		default:
			return false
		}
	})
	d := deliveries(t, s, h.ID)[0]
	if d.Attempts != 1 || d.State() != "pending" || d.NextRetry.IsZero() || !strings.Contains(d.Error, "context canceled") {
		t.Errorf("delivery after stopping = %+v, want 1 attempt, cut short, pending with a retry", d)
	}
}
