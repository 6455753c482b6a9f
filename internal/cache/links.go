package cache

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/maypok86/otter/v2"
	"github.com/redis/go-redis/v9"
)

// Status says what the platform answered for a page. It is not what a click got (tagged, stale
// or untagged): that is the resolver's to say, from the status and the entry's times.
type Status uint8

const (
	// Promoted means the platform gave an affiliate link; Link.URL holds it.
	Promoted Status = iota + 1
	// NotPromotable means the platform has no affiliate link for the page.
	NotPromotable
	// Failed means the platform could not be asked or gave no usable answer.
	Failed
)

// String returns the status's lower-case name, for logs.
func (s Status) String() string {
	switch s {
	case Promoted:
		return "promoted"
	case NotPromotable:
		return "not_promotable"
	case Failed:
		return "failed"
	}
	return "status(" + strconv.Itoa(int(s)) + ")"
}

// Link is one cached answer of the platform for a page.
type Link struct {
	// URL is the affiliate link; empty unless Status is Promoted.
	URL string
	// Status is what the platform answered.
	Status Status
	// FreshUntil is when the answer should be asked for anew.
	FreshUntil time.Time
	// StaleUntil is when the entry leaves the cache. A Promoted link is kept past FreshUntil until
	// then, to be served while the platform cannot give a new one.
	StaleUntil time.Time
	// RetryAt, when set, says a refresh of a stale link failed and the platform should not be
	// asked again for this page before then.
	RetryAt time.Time
	// FromRedis is set by Get when the entry came from Redis rather than the first tier.
	// It is not stored.
	FromRedis bool
}

// LinkOptions tune a Links cache. Zero fields take the defaults named on each, except Tier1Size.
type LinkOptions struct {
	// Tier1Size bounds the first (in-process) tier, in entries. 0 disables the tier, so that every
	// Get goes to Redis; DefaultTier1Size is the usual value.
	Tier1Size int
	// Tier1TTL bounds how long the first tier answers with an entry before asking Redis again,
	// so that changes made through other replicas reach this one; default 5m, negative: no bound.
	// While Redis cannot answer, the first tier keeps answering with what it has. No entry is
	// served past its StaleUntil. Without Redis the first tier is the only store and Tier1TTL
	// does not apply.
	Tier1TTL time.Duration
	// RedisTimeout bounds every Redis call; default 50ms.
	RedisTimeout time.Duration
	// Now is the clock the entries' times are compared with; default time.Now.
	Now func() time.Time
	// Written, if set, is told of every entry Set has written to Redis, so that other replicas
	// can drop their first-tier copy (invalidate.Owner.LinkWritten). It runs in Set's goroutine,
	// within RedisTimeout.
	Written func(ctx context.Context, key string)
	// Tier1Key, if set, gives the key under which the first tier holds a page's entry: a part
	// of the page's key that no other page's Tier1Key returns (or the key itself), so that an
	// entry costs less memory. It must not allocate: it runs on every Get.
	Tier1Key func(key string) string
}

const (
	// Tier1EntryBytes bounds the live heap that one first-tier entry costs, key and URL
	// included, when the key is a product id (see LinkOptions.Tier1Key) and the URL an
	// affiliate link of the usual length; a test holds the cache to it.
	Tier1EntryBytes = 208
	// DefaultTier1Size is the usual bound of the first tier, in entries.
	DefaultTier1Size = 100_000
	// DefaultTier1TTL is LinkOptions.Tier1TTL's default.
	DefaultTier1TTL = 5 * time.Minute
	// DefaultRedisTimeout is LinkOptions.RedisTimeout's default.
	DefaultRedisTimeout = 50 * time.Millisecond
)

// LinkStats are the counters of a Links cache since it was made. Every Get adds one to exactly
// one of Tier1Hits, RedisHits and Misses.
type LinkStats struct {
	Tier1Hits   uint64 // answered by the first tier
	RedisHits   uint64 // answered by Redis
	Misses      uint64 // answered by neither, Redis errors included
	RedisErrors uint64 // Redis calls that failed or timed out, and unreadable values
	Tier1Len    int    // entries in the first tier, approximately
}

// Links caches the platform's answers per page key in two tiers: a bounded in-process tier
// and Redis, which replicas share. Redis is never waited on for longer than RedisTimeout: an
// error or timeout is counted in the stats and answered from the first tier if it has the key,
// as a miss otherwise. Its methods are safe for concurrent use.
type Links struct {
	rdb redis.UniversalClient // nil: the first tier alone
	ap  *redis.AutoPipeliner  // batches concurrent GETs; nil: rdb's own calls
	// apFailed is set when a GET through ap failed, and cleared when one through rdb succeeds:
	// ap waits out its caller's timeout where rdb fails at once (a refused connection), so
	// while Redis is in trouble, GETs go through rdb.
	apFailed     atomic.Bool
	deadline     atomic.Pointer[sharedDeadline] // the shared wait deadline of pipelined GETs
	tier1        *otter.Cache[string, tier1Entry]
	tier1TTL     time.Duration // 0: the first tier answers until StaleUntil
	redisTimeout time.Duration
	now          func() time.Time
	written      func(ctx context.Context, key string) // nil: nobody to tell
	tier1Key     func(key string) string               // nil: the key itself

	tier1Hits   atomic.Uint64
	redisHits   atomic.Uint64
	misses      atomic.Uint64
	redisErrors atomic.Uint64
}

// tier1Entry is a Link in the first tier, kept compact because the tier may hold millions: the
// times as Unix nanoseconds (0 for a zero time) rather than time.Time's 24 bytes, and the URL in
// an allocation of its own rather than a part of the Redis value it was read from. The tier
// answers with it until recheck (Links.now's Unix nanoseconds), then asks Redis again, but keeps
// it until staleUntil for when Redis cannot answer.
type tier1Entry struct {
	url                           string
	freshUntil, staleUntil, retry int64
	recheck                       int64
	status                        Status
}

// link returns the Link that e holds. It does not allocate.
func (e tier1Entry) link() Link {
	return Link{
		URL:        e.url,
		Status:     e.status,
		FreshUntil: fromUnixNano(e.freshUntil),
		StaleUntil: fromUnixNano(e.staleUntil),
		RetryAt:    fromUnixNano(e.retry),
	}
}

// unixNano is t in Unix nanoseconds, 0 for a zero time, clamped to the years 1678 to 2262 that
// an int64 of nanoseconds holds, so that a time set far in the future stays in the future.
func unixNano(t time.Time) int64 {
	switch {
	case t.IsZero():
		return 0
	case t.Before(minUnixNano):
		return math.MinInt64
	case t.After(maxUnixNano):
		return math.MaxInt64
	}
	return t.UnixNano()
}

var (
	minUnixNano = time.Unix(0, math.MinInt64)
	maxUnixNano = time.Unix(0, math.MaxInt64)
)

// fromUnixNano undoes unixNano.
func fromUnixNano(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}

// linkKeyPrefix namespaces and versions the links' Redis keys; a change of the value encoding
// changes the version.
const linkKeyPrefix = "rd:v1:link:"

// NewLinks returns a Links cache over rdb. A nil rdb makes the first tier the only store (the
// embedded mode: nothing is shared or kept across restarts).
func NewLinks(rdb redis.UniversalClient, opts LinkOptions) *Links {
	l := &Links{
		rdb:          rdb,
		tier1TTL:     opts.Tier1TTL,
		redisTimeout: opts.RedisTimeout,
		written:      opts.Written,
		tier1Key:     opts.Tier1Key,
		now:          opts.Now,
	}
	if l.tier1TTL == 0 {
		l.tier1TTL = DefaultTier1TTL
	}
	if rdb == nil || l.tier1TTL < 0 {
		l.tier1TTL = 0
	}
	if l.redisTimeout <= 0 {
		l.redisTimeout = DefaultRedisTimeout
	}
	if l.now == nil {
		l.now = time.Now
	}
	if l.tier1Key == nil {
		l.tier1Key = func(key string) string { return key }
	}
	// Concurrent clicks' GETs share round trips to Redis when the client can batch them: one
	// round trip a click costs more CPU in system calls than the click's own work. The deferred
	// face is the one whose wait a context can end (see redisGet). SETs are not batched: the
	// autopipeliner runs a command on after its caller has given up, so a SET that Set reported
	// as failed could still land, maybe over a newer value.
	var err error
	switch c := rdb.(type) {
	case *redis.Client:
		l.ap, err = c.AsyncAutoPipeline()
	case *redis.ClusterClient:
		l.ap, err = c.AsyncAutoPipeline()
	}
	if err != nil {
		l.ap = nil // the client's own calls serve as well, one round trip each
	}
	if opts.Tier1Size > 0 {
		l.tier1 = otter.Must(&otter.Options[string, tier1Entry]{
			// No expiry of the tier's own: Get compares the entry's times with l.now itself, so
			// that the given clock governs what is served, and drops an entry it finds past its
			// StaleUntil. The size bound evicts the entries nobody asks for, expired or not; an
			// expiry would only free their memory sooner, for 24 bytes more per entry (the timer
			// wheel's links and the expiry time) and the wheel's work on every write.
			MaximumSize: opts.Tier1Size,
		})
	}
	return l
}

// Get returns the entry for key, if either tier has one before its StaleUntil: from the first
// tier within Tier1TTL of its arrival there, else from Redis, in which case the entry replaces
// the first tier's. When Redis fails, times out or has lost the key, the first tier's entry, if
// any, is returned all the same (and written back to Redis if Redis lost it), and Redis is asked
// again after another Tier1TTL; without one, ok is false, and err says what Redis did, or is nil
// for a plain miss. Get does not allocate when the first tier answers.
func (l *Links) Get(ctx context.Context, key string) (Link, bool, error) {
	return l.GetAt(ctx, key, l.now())
}

// GetAt is Get at the time now, which must come from the clock in LinkOptions.Now: a caller that
// has read that clock already for the same request spares a second reading (45 ns a call, a fair
// share of a click served from the first tier).
func (l *Links) GetAt(ctx context.Context, key string, now time.Time) (Link, bool, error) {
	held, had := l.held(key, now)
	if had && now.UnixNano() < held.recheck {
		l.tier1Hits.Add(1)
		return held.link(), true, nil
	}
	if l.rdb == nil {
		l.misses.Add(1)
		return Link{}, false, nil
	}
	v, err := l.redisGet(ctx, linkKeyPrefix+key)
	if errors.Is(err, redis.Nil) {
		if had {
			// Redis lost the entry (a restart without persistence, an eviction); the first
			// tier's is as good, and goes back, so that other replicas find it too.
			l.extend(key, held, now)
			l.tier1Hits.Add(1)
			link := held.link()
			_ = l.setRedis(ctx, key, link, now) // counted; the answer stands
			return link, true, nil
		}
		l.misses.Add(1)
		return Link{}, false, nil
	}
	var link Link
	if err == nil {
		link, err = decodeLink(v)
	}
	if err != nil {
		l.redisErrors.Add(1)
		if had {
			l.extend(key, held, now)
			l.tier1Hits.Add(1)
			return held.link(), true, nil
		}
		l.misses.Add(1)
		return Link{}, false, fmt.Errorf("get link %s: %w", key, err)
	}
	// Redis's own expiry is StaleUntil by the writer's clock; this replica's clock has the last word.
	if !now.Before(link.StaleUntil) {
		l.misses.Add(1)
		return Link{}, false, nil
	}
	l.putTier1(key, link, now)
	l.redisHits.Add(1)
	link.FromRedis = true
	return link, true, nil
}

// held returns the first tier's entry for key if it is before its StaleUntil, and drops one
// that is past it.
func (l *Links) held(key string, now time.Time) (tier1Entry, bool) {
	if l.tier1 == nil {
		return tier1Entry{}, false
	}
	e, ok := l.tier1.GetIfPresent(l.tier1Key(key))
	if !ok {
		return tier1Entry{}, false
	}
	if now.UnixNano() >= e.staleUntil {
		l.dropExpired(key, e)
		return tier1Entry{}, false
	}
	return e, true
}

// dropExpired removes key from the first tier unless its entry has changed since it was read as e.
func (l *Links) dropExpired(key string, e tier1Entry) {
	l.tier1.ComputeIfPresent(l.tier1Key(key), func(cur tier1Entry) (tier1Entry, otter.ComputeOp) {
		if cur != e {
			return cur, otter.CancelOp
		}
		return cur, otter.InvalidateOp
	})
}

// extend lets the first tier answer with e for another Tier1TTL, unless the entry has changed
// since it was read.
func (l *Links) extend(key string, e tier1Entry, now time.Time) {
	l.tier1.ComputeIfPresent(l.tier1Key(key), func(cur tier1Entry) (tier1Entry, otter.ComputeOp) {
		if cur != e {
			return cur, otter.CancelOp
		}
		cur.recheck = l.recheck(cur.staleUntil, now)
		return cur, otter.WriteOp
	})
}

// Peek returns the first tier's entry for key, as Get would without asking Redis, and without
// counting a hit or a miss. ok is false when the first tier has no entry it would answer with,
// or is disabled.
func (l *Links) Peek(key string) (Link, bool) {
	now := l.now()
	e, ok := l.held(key, now)
	if !ok || now.UnixNano() >= e.recheck {
		return Link{}, false
	}
	return e.link(), true
}

// Set stores link for key in both tiers, in Redis until link.StaleUntil. A link whose StaleUntil
// has passed is not stored, and removes key from the first tier. The first tier is written even
// when Redis fails; the error returned then is Redis's.
func (l *Links) Set(ctx context.Context, key string, link Link) error {
	now := l.now()
	if !now.Before(link.StaleUntil) {
		l.Forget(key)
		return nil
	}
	link.FromRedis = false
	l.putTier1(key, link, now)
	return l.setRedis(ctx, key, link, now)
}

// setRedis writes link to Redis, to expire at its StaleUntil.
func (l *Links) setRedis(ctx context.Context, key string, link Link, now time.Time) error {
	if l.rdb == nil {
		return nil
	}
	// Redis keeps expiries in whole milliseconds; a shorter one would be rounded up past StaleUntil.
	ttl := link.StaleUntil.Sub(now).Truncate(time.Millisecond)
	if ttl <= 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, l.redisTimeout)
	defer cancel()
	if err := l.rdb.Set(ctx, linkKeyPrefix+key, encodeLink(link), ttl).Err(); err != nil {
		l.redisErrors.Add(1)
		return fmt.Errorf("set link %s: %w", key, err)
	}
	if l.written != nil {
		l.written(ctx, key)
	}
	return nil
}

// redisGet returns key's value, or redis.Nil, within RedisTimeout. The autopipeliner goes on
// with a command whose caller has stopped waiting, so the wait itself ends with the timeout:
// a shared one (see waitDeadline), ctx's end being no reason to give up sooner on a wait this
// short.
func (l *Links) redisGet(ctx context.Context, key string) (string, error) {
	if l.ap == nil || l.apFailed.Load() {
		ctx, cancel := context.WithTimeout(ctx, l.redisTimeout)
		defer cancel()
		v, err := l.rdb.Get(ctx, key).Result()
		if l.ap != nil && (err == nil || errors.Is(err, redis.Nil)) {
			l.apFailed.Store(false)
		}
		return v, err
	}
	wctx := l.waitDeadline()
	cmd := redis.NewStringCmd(wctx, "get", key)
	if err := l.ap.Submit(wctx, cmd).WaitContext(wctx); err != nil {
		if !errors.Is(err, redis.Nil) {
			l.apFailed.Store(true)
		}
		return "", err
	}
	return cmd.Val(), nil
}

// sharedDeadlineSlack is how long a shared wait deadline (waitDeadline) is handed out: a wait
// ends between RedisTimeout and RedisTimeout plus this after it starts.
const sharedDeadlineSlack = 5 * time.Millisecond

// sharedDeadline is a context that ends RedisTimeout plus sharedDeadlineSlack after it was
// made, handed to every pipelined GET that starts in the first sharedDeadlineSlack of it.
type sharedDeadline struct {
	ctx     context.Context
	expired atomic.Bool // set sharedDeadlineSlack after ctx was made: make a new one
}

// waitDeadline returns a context that ends no sooner than RedisTimeout from now, and at most
// sharedDeadlineSlack later, shared by the GETs that start close together. A context of their
// own (context.WithTimeout on the request's) cost each click 5 allocations, a timer, and a
// lock on the request's context to register and cancel it: about 8% of the CPU of a click
// read from Redis under wrk. It reads no clock; the deadlines run on the real one, whatever
// LinkOptions.Now is.
func (l *Links) waitDeadline() context.Context {
	cur := l.deadline.Load()
	if cur != nil && !cur.expired.Load() {
		return cur.ctx
	}
	// Not cancelled before its deadline, since others may be waiting on it: at most
	// (RedisTimeout + slack) / slack of them are alive at once.
	ctx, cancel := context.WithTimeout(context.Background(), l.redisTimeout+sharedDeadlineSlack)
	d := &sharedDeadline{ctx: ctx}
	if !l.deadline.CompareAndSwap(cur, d) {
		cancel()
		if now := l.deadline.Load(); now != nil {
			return now.ctx // another click made one at the same moment
		}
		return l.waitDeadline()
	}
	time.AfterFunc(sharedDeadlineSlack, func() {
		d.expired.Store(true)
		time.AfterFunc(l.redisTimeout, cancel) // its deadline, by when no wait uses it
	})
	return d.ctx
}

// putTier1 stores link for key in the first tier, under Tier1Key(key). The key and the URL are
// copied into one allocation of their own: neither then keeps alive a larger string it was cut
// from (the URL is a part of the Redis value it was read from), and an entry costs one heap
// object less.
func (l *Links) putTier1(key string, link Link, now time.Time) {
	if l.tier1 == nil {
		return
	}
	key = l.tier1Key(key)
	stale := unixNano(link.StaleUntil)
	if now.UnixNano() >= stale {
		l.tier1.Invalidate(key)
		return
	}
	var b strings.Builder // not key + link.URL, which returns key itself when the URL is empty
	b.Grow(len(key) + len(link.URL))
	b.WriteString(key)
	b.WriteString(link.URL)
	both := b.String()
	l.tier1.Set(both[:len(key)], tier1Entry{
		url:        both[len(key):],
		status:     link.Status,
		freshUntil: unixNano(link.FreshUntil),
		staleUntil: stale,
		retry:      unixNano(link.RetryAt),
		recheck:    l.recheck(stale, now),
	})
}

// recheck is when the first tier stops answering by itself with an entry that leaves the cache
// at staleUntil (Unix nanoseconds).
func (l *Links) recheck(staleUntil int64, now time.Time) int64 {
	until := staleUntil
	if l.tier1TTL > 0 {
		until = min(until, now.Add(l.tier1TTL).UnixNano())
	}
	return until
}

// Forget drops key from the first tier only, so that the next Get asks Redis. It is how a
// change made through another replica is taken in before Tier1TTL.
func (l *Links) Forget(key string) {
	if l.tier1 != nil {
		l.tier1.Invalidate(l.tier1Key(key))
	}
}

// Stats returns the counters. It is cheap enough to call on every metrics scrape.
func (l *Links) Stats() LinkStats {
	s := LinkStats{
		Tier1Hits:   l.tier1Hits.Load(),
		RedisHits:   l.redisHits.Load(),
		Misses:      l.misses.Load(),
		RedisErrors: l.redisErrors.Load(),
	}
	if l.tier1 != nil {
		s.Tier1Len = l.tier1.EstimatedSize()
	}
	return s
}

// A link's Redis value is "<status>|<freshUntil>|<staleUntil>|<retryAt>|<url>": the status as one
// digit, the times as Unix milliseconds (0 for a zero time), then the URL, which may itself hold
// '|'. It is a third of the size of the same entry in JSON, and readable in redis-cli.

func encodeLink(link Link) string {
	b := make([]byte, 0, 48+len(link.URL))
	b = strconv.AppendUint(b, uint64(link.Status), 10)
	for _, t := range [...]time.Time{link.FreshUntil, link.StaleUntil, link.RetryAt} {
		b = append(b, '|')
		b = strconv.AppendInt(b, unixMilli(t), 10)
	}
	b = append(b, '|')
	b = append(b, link.URL...)
	return string(b)
}

var errBadLinkValue = errors.New("unreadable cached link")

// decodeLink reads encodeLink's form. The URL it returns shares v's memory.
func decodeLink(v string) (Link, error) {
	var f [4]string
	rest := v
	for i := range f {
		j := strings.IndexByte(rest, '|')
		if j < 0 {
			return Link{}, errBadLinkValue
		}
		f[i], rest = rest[:j], rest[j+1:]
	}
	status, err := strconv.ParseUint(f[0], 10, 8)
	if err != nil || Status(status) < Promoted || Status(status) > Failed {
		return Link{}, errBadLinkValue
	}
	link := Link{URL: rest, Status: Status(status)}
	for i, t := range [...]*time.Time{&link.FreshUntil, &link.StaleUntil, &link.RetryAt} {
		ms, err := strconv.ParseInt(f[i+1], 10, 64)
		if err != nil || ms < 0 {
			return Link{}, errBadLinkValue
		}
		if ms != 0 {
			*t = time.UnixMilli(ms)
		}
	}
	if (link.Status == Promoted) != (link.URL != "") {
		return Link{}, errBadLinkValue
	}
	return link, nil
}

func unixMilli(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return max(t.UnixMilli(), 0)
}
