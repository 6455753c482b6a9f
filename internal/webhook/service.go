package webhook

import (
	"context"
	crand "crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis keys. All share the hash tag {wh}, so the scripts that touch several work on a cluster too.
//
//   - hooksKey, a hash of webhook id → Hook (JSON): owned by Register and Delete, at most MaxHooks fields.
//   - queueKey, a sorted set of delivery ids by the unix ms of their next attempt (or of their lease's
//     end while one replica sends them): owned by the deliveries, each removed when delivered or given
//     up; it expires Options.MaxAge+recordExtra after the last event, when no delivery can be due.
//   - deliveryKey(id), a delivery (JSON): expires MaxAge+recordExtra after it was made.
//   - listKey(hook), a sorted set of a webhook's latest deliveries by creation time: at most
//     keepDeliveries, deleted with the webhook, and expiring like the deliveries.
const (
	hooksKey = "rd:v1:{wh}:hooks"
	queueKey = "rd:v1:{wh}:queue"
)

func deliveryKey(id string) string { return "rd:v1:{wh}:d:" + id }
func listKey(hook string) string   { return "rd:v1:{wh}:l:" + hook }

const (
	// MaxHooks bounds the webhooks registered.
	MaxHooks = 20
	// keepDeliveries is how many recent deliveries a webhook lists.
	keepDeliveries = 100
	// recordExtra is how long a delivery is listed after its retries ran out.
	recordExtra = 24 * time.Hour
	// maxResponse is what is read of a receiver's answer, to reuse the connection.
	maxResponse = 4 << 10
)

// Options tune a Service. Zero values take the defaults named.
type Options struct {
	// AllowPrivate (WEBHOOK_ALLOW_PRIVATE) lets webhooks point at loopback, private and other non-public
	// addresses, and use plain http: for receivers on the same machine or network. Off: https to public
	// addresses only, checked at registration and at every connection.
	AllowPrivate bool
	// Backoff is the wait before the first retry; each retry doubles it, up to MaxBackoff, and a random
	// part of up to half of it is taken off (jitter). Defaults 30s and 1h.
	Backoff, MaxBackoff time.Duration
	// MaxAge is how long after its event a delivery is retried; default 24h.
	MaxAge time.Duration
	// Timeout bounds one attempt, from dialling to the answer's headers; default 10s.
	Timeout time.Duration
	// Lease is how long a replica holds a delivery it sends before another may take it; default 3×Timeout.
	Lease time.Duration
	// Poll is how often the queue is read for due deliveries; default 1s.
	Poll time.Duration
	// Workers bounds the attempts under way in this process; default 8.
	Workers int
	// Buffer is how many events Emit holds for the fan-out before it drops them; default 1024.
	Buffer int
	// TLSConfig, if set, is the deliveries' TLS configuration (tests trust their receiver's certificate).
	TLSConfig *tls.Config
	// Resolver resolves webhook hosts; default net.DefaultResolver.
	Resolver *net.Resolver
	Now      func() time.Time
	Logger   *slog.Logger
}

// Service registers webhooks and delivers events to them. Emit is cheap and never blocks; Run does the
// work. Several processes may run Services over one Redis: each delivery is sent by one at a time (a
// lease in the queue), at least once. Safe for concurrent use.
type Service struct {
	rdb    redis.UniversalClient
	opts   Options
	client *http.Client
	events chan pending // Emit → fan-out
	wake   chan struct{}

	dropped   atomic.Int64 // events Emit dropped for want of room
	attempted atomic.Int64 // attempts made
}

type pending struct {
	event Event
	data  json.RawMessage
	at    time.Time
}

// New returns a Service over rdb.
func New(rdb redis.UniversalClient, opts Options) *Service {
	if opts.Backoff <= 0 {
		opts.Backoff = 30 * time.Second
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = time.Hour
	}
	if opts.MaxAge <= 0 {
		opts.MaxAge = 24 * time.Hour
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	if opts.Lease <= 0 {
		opts.Lease = 3 * opts.Timeout
	}
	if opts.Poll <= 0 {
		opts.Poll = time.Second
	}
	if opts.Workers <= 0 {
		opts.Workers = 8
	}
	if opts.Buffer <= 0 {
		opts.Buffer = 1024
	}
	if opts.Resolver == nil {
		opts.Resolver = net.DefaultResolver
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	dialer := &net.Dialer{Timeout: opts.Timeout, Resolver: opts.Resolver}
	if !opts.AllowPrivate {
		dialer.Control = dialControl
	}
	transport := &http.Transport{
		Proxy:                 nil, // a proxy would dial for us, past the address check
		DialContext:           dialer.DialContext,
		TLSClientConfig:       opts.TLSConfig,
		TLSHandshakeTimeout:   opts.Timeout,
		ResponseHeaderTimeout: opts.Timeout,
		MaxIdleConnsPerHost:   2,
		IdleConnTimeout:       90 * time.Second,
		ForceAttemptHTTP2:     true,
	}
	return &Service{
		rdb:  rdb,
		opts: opts,
		client: &http.Client{
			Transport: transport,
			Timeout:   opts.Timeout,
			// A redirect is not a delivery: it would be sent somewhere the owner did not register.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		events: make(chan pending, opts.Buffer),
		wake:   make(chan struct{}, 1),
	}
}

// Dropped returns how many events Emit dropped because the fan-out was behind by Options.Buffer events.
func (s *Service) Dropped() int64 { return s.dropped.Load() }

// Attempts returns how many deliveries this process has attempted.
func (s *Service) Attempts() int64 { return s.attempted.Load() }

// Emit queues event with data (encoded as JSON now, so data may change after) for every webhook that
// subscribes to it. It never blocks and never fails the caller: past Options.Buffer waiting events it
// drops the event, logs and counts it (Dropped). A nil *Service does nothing.
func (s *Service) Emit(event Event, data any) {
	if s == nil {
		return
	}
	b, err := json.Marshal(data)
	if err != nil {
		s.opts.Logger.Error("webhook event", "event", event, "err", err)
		return
	}
	select {
	case s.events <- pending{event: event, data: b, at: s.opts.Now()}:
	default:
		s.dropped.Add(1)
		s.opts.Logger.Warn("webhook event dropped: fan-out behind", "event", event)
	}
}

func newID(prefix string, n int) string {
	b := make([]byte, n)
	_, _ = crand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// Register checks url and events, and stores a webhook with a new secret, which the returned Hook
// carries (and no later answer does). Errors wrap ErrInvalid (bad input, saying why) or are ErrTooMany,
// or the store's.
func (s *Service) Register(ctx context.Context, rawURL string, names []string) (Hook, error) {
	u, err := checkURL(rawURL, s.opts.AllowPrivate)
	if err != nil {
		return Hook{}, err
	}
	events, err := ParseEvents(names)
	if err != nil {
		return Hook{}, err
	}
	if !s.opts.AllowPrivate {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if err := resolvePublic(rctx, s.opts.Resolver, u.Hostname()); err != nil {
			return Hook{}, err
		}
	}
	h := Hook{
		ID: newID("wh_", 8), URL: u.String(), Events: events,
		Secret: "whsec_" + newID("", 24), Created: s.opts.Now().UTC().Truncate(time.Second),
	}
	v, err := json.Marshal(h)
	if err != nil {
		return Hook{}, err
	}
	n, err := registerScript.Run(ctx, s.rdb, []string{hooksKey}, h.ID, v, MaxHooks).Int()
	if err != nil {
		return Hook{}, fmt.Errorf("register webhook: %w", err)
	}
	if n == 0 {
		return Hook{}, ErrTooMany
	}
	return h, nil
}

// registerScript adds a webhook unless MaxHooks are there. ARGV: id, JSON, MaxHooks.
var registerScript = redis.NewScript(`
if redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
`)

// hooks returns every webhook, with its secret.
func (s *Service) hooks(ctx context.Context) ([]Hook, error) {
	m, err := s.rdb.HGetAll(ctx, hooksKey).Result()
	if err != nil {
		return nil, fmt.Errorf("webhooks: %w", err)
	}
	out := make([]Hook, 0, len(m))
	for id, v := range m {
		var h Hook
		if err := json.Unmarshal([]byte(v), &h); err != nil || h.ID != id {
			s.opts.Logger.Warn("webhook record unreadable", "id", id)
			continue
		}
		out = append(out, h)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Created.Equal(out[j].Created) {
			return out[i].Created.Before(out[j].Created)
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// List returns the webhooks, oldest first, without their secrets.
func (s *Service) List(ctx context.Context) ([]Hook, error) {
	hs, err := s.hooks(ctx)
	for i := range hs {
		hs[i].Secret = ""
	}
	return hs, err
}

// hook returns the webhook id with its secret; ok is false when there is none.
func (s *Service) hook(ctx context.Context, id string) (Hook, bool, error) {
	v, err := s.rdb.HGet(ctx, hooksKey, id).Result()
	if errors.Is(err, redis.Nil) {
		return Hook{}, false, nil
	}
	if err != nil {
		return Hook{}, false, fmt.Errorf("webhook %s: %w", id, err)
	}
	var h Hook
	if err := json.Unmarshal([]byte(v), &h); err != nil {
		return Hook{}, false, fmt.Errorf("webhook %s: %w", id, err)
	}
	return h, true, nil
}

// Delete removes the webhook id and its list of deliveries: ErrNotFound when there is none. Its
// deliveries still queued are dropped when they come due.
func (s *Service) Delete(ctx context.Context, id string) error {
	n, err := s.rdb.HDel(ctx, hooksKey, id).Result()
	if err != nil {
		return fmt.Errorf("delete webhook %s: %w", id, err)
	}
	if n == 0 {
		return ErrNotFound
	}
	if err := s.rdb.Del(ctx, listKey(id)).Err(); err != nil {
		return fmt.Errorf("delete webhook %s's deliveries: %w", id, err)
	}
	return nil
}

// Deliveries returns the webhook's latest deliveries (at most 100, newest first, each listed until a
// day after its retries end), without their bodies: ErrNotFound when there is no such webhook.
func (s *Service) Deliveries(ctx context.Context, id string) ([]Delivery, error) {
	if _, ok, err := s.hook(ctx, id); err != nil {
		return nil, err
	} else if !ok {
		return nil, ErrNotFound
	}
	ids, err := s.rdb.ZRevRange(ctx, listKey(id), 0, keepDeliveries-1).Result()
	if err != nil {
		return nil, fmt.Errorf("deliveries of %s: %w", id, err)
	}
	out := make([]Delivery, 0, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	keys := make([]string, len(ids))
	for i, d := range ids {
		keys[i] = deliveryKey(d)
	}
	vs, err := s.rdb.MGet(ctx, keys...).Result()
	if err != nil {
		return nil, fmt.Errorf("deliveries of %s: %w", id, err)
	}
	for _, v := range vs {
		str, ok := v.(string)
		if !ok {
			continue // expired
		}
		var d Delivery
		if err := json.Unmarshal([]byte(str), &d); err != nil {
			continue
		}
		d.Body = nil
		out = append(out, d)
	}
	return out, nil
}

// Run fans the emitted events out to the webhooks and delivers what the queue holds due, with up to
// Options.Workers attempts at once, until ctx ends. Events still waiting for the fan-out then are lost;
// deliveries queued are not: the next Run, here or in another process, sends them.
func (s *Service) Run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); s.fanOut(ctx) }()
	sem := make(chan struct{}, s.opts.Workers)
	t := time.NewTicker(s.opts.Poll)
	defer t.Stop()
	for {
		s.dispatch(ctx, sem, &wg)
		select {
		case <-ctx.Done():
			wg.Wait()
			return
		case <-t.C:
		case <-s.wake:
		}
	}
}

func (s *Service) fanOut(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case p := <-s.events:
			if err := s.enqueue(ctx, p); err != nil && ctx.Err() == nil {
				s.opts.Logger.Error("webhook enqueue", "event", p.event, "err", err)
			}
		}
	}
}

// enqueue makes one delivery of p for each webhook that subscribes to its event.
func (s *Service) enqueue(ctx context.Context, p pending) error {
	hooks, err := s.hooks(ctx)
	if err != nil {
		return err
	}
	ttl := s.opts.MaxAge + recordExtra
	queued := false
	for _, h := range hooks {
		if !subscribed(h, p.event) {
			continue
		}
		d := Delivery{ID: newID("dlv_", 12), Hook: h.ID, Event: p.event, Created: p.at.UTC()}
		d.Body, err = json.Marshal(struct {
			ID      string          `json:"id"`
			Event   Event           `json:"event"`
			Created time.Time       `json:"created_at"`
			Data    json.RawMessage `json:"data"`
		}{d.ID, p.event, d.Created, p.data})
		if err != nil {
			return err
		}
		v, err := json.Marshal(d)
		if err != nil {
			return err
		}
		now := s.opts.Now()
		_, err = s.rdb.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
			pipe.Set(ctx, deliveryKey(d.ID), v, ttl)
			pipe.ZAdd(ctx, listKey(h.ID), redis.Z{Score: float64(now.UnixMilli()), Member: d.ID})
			pipe.ZRemRangeByRank(ctx, listKey(h.ID), 0, -keepDeliveries-1)
			pipe.Expire(ctx, listKey(h.ID), ttl)
			pipe.ZAdd(ctx, queueKey, redis.Z{Score: float64(now.UnixMilli()), Member: d.ID})
			pipe.Expire(ctx, queueKey, ttl)
			return nil
		})
		if err != nil {
			return fmt.Errorf("queue delivery to %s: %w", h.ID, err)
		}
		queued = true
	}
	if queued {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
	return nil
}

// claimScript takes a due delivery for this process: when ARGV[1] is in the queue with a time no later
// than ARGV[2], its time becomes ARGV[3], the end of the lease, and it returns 1. Another process
// sees it due again only if this one did not finish it by then.
var claimScript = redis.NewScript(`
local at = redis.call('ZSCORE', KEYS[1], ARGV[1])
if at and tonumber(at) <= tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
  return 1
end
return 0
`)

// dispatch claims the due deliveries it has workers for and starts their attempts.
func (s *Service) dispatch(ctx context.Context, sem chan struct{}, wg *sync.WaitGroup) {
	free := cap(sem) - len(sem)
	if free == 0 || ctx.Err() != nil {
		return
	}
	now := s.opts.Now()
	ids, err := s.rdb.ZRangeByScore(ctx, queueKey, &redis.ZRangeBy{
		Min: "-inf", Max: strconv.FormatInt(now.UnixMilli(), 10), Count: int64(free),
	}).Result()
	if err != nil {
		if ctx.Err() == nil {
			s.opts.Logger.Warn("webhook queue", "err", err)
		}
		return
	}
	for _, id := range ids {
		lease := now.Add(s.opts.Lease).UnixMilli()
		n, err := claimScript.Run(ctx, s.rdb, []string{queueKey}, id, now.UnixMilli(), lease).Int()
		if err != nil || n == 0 {
			continue
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			s.attempt(ctx, id, lease)
		}()
	}
}

// finishScript records an attempt's outcome if the lease that attempt was made under is still the
// delivery's: its time in the queue is still ARGV[2]. Otherwise another process took the delivery when
// the lease ran out, and its attempt's outcome is the one to keep. The record ARGV[3] replaces KEYS[2]
// (keeping its expiry); the delivery is queued again at ARGV[4], or leaves the queue when that is "".
var finishScript = redis.NewScript(`
local at = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not at or tonumber(at) ~= tonumber(ARGV[2]) then
  return 0
end
redis.call('SET', KEYS[2], ARGV[3], 'XX', 'KEEPTTL')
if ARGV[4] == '' then
  redis.call('ZREM', KEYS[1], ARGV[1])
else
  redis.call('ZADD', KEYS[1], ARGV[4], ARGV[1])
end
return 1
`)

// attempt sends the delivery id, claimed until lease (unix ms), once and records the outcome:
// delivered, retried later, or given up. When ctx ends (the process stops) the request is cut short
// and recorded as a failed attempt, to be retried: stopping does not wait for a slow receiver.
func (s *Service) attempt(runCtx context.Context, id string, lease int64) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(runCtx), 2*s.opts.Timeout) // for the store
	defer cancel()
	v, err := s.rdb.Get(ctx, deliveryKey(id)).Bytes()
	if errors.Is(err, redis.Nil) {
		s.rdb.ZRem(ctx, queueKey, id) // expired: nothing to send
		return
	}
	if err != nil {
		s.opts.Logger.Warn("webhook delivery read", "id", id, "err", err)
		return // the lease ends and it comes due again
	}
	var d Delivery
	if err := json.Unmarshal(v, &d); err != nil {
		s.opts.Logger.Error("webhook delivery unreadable", "id", id, "err", err)
		s.rdb.ZRem(ctx, queueKey, id)
		return
	}
	h, ok, err := s.hook(ctx, d.Hook)
	if err != nil {
		s.opts.Logger.Warn("webhook read", "id", d.Hook, "err", err)
		return
	}
	if !ok {
		s.rdb.ZRem(ctx, queueKey, id) // the webhook was deleted
		return
	}
	s.attempted.Add(1)
	d.Attempts++
	d.Status, d.Error = s.send(runCtx, h, d)
	now := s.opts.Now()
	done := d.Status >= 200 && d.Status < 300
	d.NextRetry = time.Time{}
	switch {
	case done:
		d.Delivered = now.UTC()
		d.Error = ""
	case now.Sub(d.Created) >= s.opts.MaxAge:
		d.GaveUp = true
	default:
		next := now.Add(s.backoff(d.Attempts))
		if end := d.Created.Add(s.opts.MaxAge); next.After(end) {
			next = end
		}
		d.NextRetry = next.UTC()
	}
	nv, err := json.Marshal(d)
	if err != nil {
		return
	}
	next := ""
	if !d.NextRetry.IsZero() {
		next = strconv.FormatInt(d.NextRetry.UnixMilli(), 10)
	}
	n, err := finishScript.Run(ctx, s.rdb, []string{queueKey, deliveryKey(id)}, id, lease, nv, next).Int()
	switch {
	case err != nil:
		s.opts.Logger.Warn("webhook delivery write", "id", id, "err", err) // the lease ends and it is sent again
	case n == 0:
		s.opts.Logger.Warn("webhook delivery lease lost: the attempt outlived it, another process took it", "id", id)
	}
}

// backoff is the wait after the n-th failed attempt: Backoff·2^(n-1), at most MaxBackoff, less a
// random part of up to half, so that many receivers failing at once do not retry in step.
func (s *Service) backoff(n int) time.Duration {
	d := s.opts.Backoff
	for i := 1; i < n && d < s.opts.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, s.opts.MaxBackoff)
	return d - rand.N(d/2+1)
}

// send posts the delivery to the webhook, signed now, and returns the status (0 without an answer)
// and what went wrong ("" for a 2xx).
func (s *Service) send(ctx context.Context, h Hook, d Delivery) (int, string) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.URL, strings.NewReader(string(d.Body)))
	if err != nil {
		return 0, "bad url: " + err.Error()
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "redirector-webhook/1")
	req.Header.Set(SignatureHeader, Sign(h.Secret, s.opts.Now(), d.Body))
	req.Header.Set(DeliveryHeader, d.ID)
	req.Header.Set(EventHeader, string(d.Event))
	resp, err := s.client.Do(req)
	if err != nil {
		if errors.Is(err, errPrivate) {
			return 0, errPrivate.Error()
		}
		return 0, err.Error()
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponse))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, fmt.Sprintf("receiver answered %d", resp.StatusCode)
	}
	return resp.StatusCode, ""
}
