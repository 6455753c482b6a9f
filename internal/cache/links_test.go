package cache_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redirector/redirector/internal/aliurl"
	"github.com/redirector/redirector/internal/cache"
	"github.com/redirector/redirector/internal/clocktest"
	"github.com/redirector/redirector/internal/redistest"
	"github.com/redirector/redirector/internal/store"
)

// testRedisTimeout replaces the 50ms default in tests that are not about the timeout: the
// machine that runs them may be busy enough to hold Redis up for longer.
const testRedisTimeout = time.Second

// clock is a settable time source shared by a test and the code under test.
type clock = clocktest.Clock

// newClock is in local time, as the times the tiers read back (time.Unix) are, so that tests
// compare links with ==.
func newClock() *clock { return clocktest.New(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC).Local()) }

// connect starts a Redis server for the test and returns it with a client of the package's own making.
func connect(t testing.TB, opts ...redistest.Options) (*redistest.Server, redis.UniversalClient) {
	t.Helper()
	srv := redistest.Start(t, opts...)
	rdb, err := store.Connect(context.Background(), srv.URL, store.ConnectOptions{})
	if err != nil {
		t.Fatalf("Connect(%q) = %v", srv.URL, err)
	}
	t.Cleanup(func() { _ = rdb.Close() })
	return srv, rdb
}

func promoted(url string, now time.Time, fresh, stale time.Duration) cache.Link {
	return cache.Link{URL: url, Status: cache.Promoted, FreshUntil: now.Add(fresh), StaleUntil: now.Add(stale)}
}

// sameLink compares links at the millisecond precision Redis keeps.
func sameLink(a, b cache.Link) bool {
	ms := func(t time.Time) int64 {
		if t.IsZero() {
			return 0
		}
		return t.UnixMilli()
	}
	return a.URL == b.URL && a.Status == b.Status && ms(a.FreshUntil) == ms(b.FreshUntil) &&
		ms(a.StaleUntil) == ms(b.StaleUntil) && ms(a.RetryAt) == ms(b.RetryAt)
}

func mustGet(t *testing.T, l *cache.Links, key string) cache.Link {
	t.Helper()
	got, ok, err := l.Get(context.Background(), key)
	if err != nil || !ok {
		t.Fatalf("Get(%q) = _, %v, %v, want a hit", key, ok, err)
	}
	return got
}

func mustMiss(t *testing.T, l *cache.Links, key string) {
	t.Helper()
	got, ok, err := l.Get(context.Background(), key)
	if err != nil || ok {
		t.Fatalf("Get(%q) = %+v, %v, %v, want a miss", key, got, ok, err)
	}
}

func TestLinksTier1Hit(t *testing.T) {
	t.Parallel()
	_, rdb := connect(t)
	ctx := context.Background()
	clk := newClock()
	l := cache.NewLinks(rdb, cache.LinkOptions{RedisTimeout: testRedisTimeout, Tier1Size: 100, Now: clk.Now})
	want := promoted("https://s.click.aliexpress.com/e/_a", clk.Now(), time.Hour, 2*time.Hour)
	if err := l.Set(ctx, "k", want); err != nil {
		t.Fatalf("Set = %v", err)
	}
	got := mustGet(t, l, "k")
	if got != want {
		t.Errorf("Get = %+v, want %+v", got, want)
	}
	if st := l.Stats(); st.Tier1Hits != 1 || st.RedisHits != 0 || st.Misses != 0 {
		t.Errorf("Stats = %+v, want 1 tier-1 hit only", st)
	}
	if p, ok := l.Peek("k"); !ok || p != want {
		t.Errorf("Peek = %+v, %v, want %+v, true", p, ok, want)
	}
	mustMiss(t, l, "other")
	if st := l.Stats(); st.Misses != 1 {
		t.Errorf("Stats.Misses = %d, want 1", st.Misses)
	}
}

func TestLinksRedisHitPromoted(t *testing.T) {
	t.Parallel()
	_, rdb := connect(t)
	ctx := context.Background()
	clk := newClock()
	a := cache.NewLinks(rdb, cache.LinkOptions{RedisTimeout: testRedisTimeout, Tier1Size: 100, Now: clk.Now})
	b := cache.NewLinks(rdb, cache.LinkOptions{RedisTimeout: testRedisTimeout, Tier1Size: 100, Now: clk.Now})
	want := promoted("https://s.click.aliexpress.com/e/_b", clk.Now(), time.Hour, 2*time.Hour)
	if err := a.Set(ctx, "k", want); err != nil {
		t.Fatalf("Set = %v", err)
	}
	if _, ok := b.Peek("k"); ok {
		t.Fatalf("replica b's first tier has k before any Get")
	}
	got := mustGet(t, b, "k")
	if !got.FromRedis || !sameLink(got, want) {
		t.Errorf("first Get on b = %+v, want %+v from Redis", got, want)
	}
	got = mustGet(t, b, "k")
	if got.FromRedis || !sameLink(got, want) {
		t.Errorf("second Get on b = %+v, want %+v from the first tier", got, want)
	}
	if st := b.Stats(); st.Tier1Hits != 1 || st.RedisHits != 1 || st.Misses != 0 || st.Tier1Len != 1 {
		t.Errorf("b.Stats = %+v, want 1 tier-1 hit, 1 Redis hit, 1 entry", st)
	}
}

func TestLinksStoredValue(t *testing.T) {
	t.Parallel()
	_, rdb := connect(t)
	ctx := context.Background()
	now := time.UnixMilli(1_772_366_400_000)
	l := cache.NewLinks(rdb, cache.LinkOptions{RedisTimeout: testRedisTimeout, Tier1Size: 100, Now: func() time.Time { return now }})
	tests := []struct {
		name string
		link cache.Link
		want string
	}{
		{
			name: "promoted",
			link: promoted("https://s.click.aliexpress.com/e/_x?a=1|2", now, time.Second, 2*time.Second),
			want: "1|1772366401000|1772366402000|0|https://s.click.aliexpress.com/e/_x?a=1|2",
		},
		{
			name: "promoted, retrying",
			link: cache.Link{URL: "https://a.example/", Status: cache.Promoted, FreshUntil: now, StaleUntil: now.Add(time.Hour), RetryAt: now.Add(time.Minute)},
			want: "1|1772366400000|1772370000000|1772366460000|https://a.example/",
		},
		{
			name: "not promotable",
			link: cache.Link{Status: cache.NotPromotable, FreshUntil: now.Add(time.Minute), StaleUntil: now.Add(time.Minute)},
			want: "2|1772366460000|1772366460000|0|",
		},
		{
			name: "failed",
			link: cache.Link{Status: cache.Failed, FreshUntil: now.Add(time.Minute), StaleUntil: now.Add(time.Minute)},
			want: "3|1772366460000|1772366460000|0|",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := l.Set(ctx, tc.name, tc.link); err != nil {
				t.Fatalf("Set = %v", err)
			}
			raw, err := rdb.Get(ctx, "rd:v1:link:"+tc.name).Result()
			if err != nil || raw != tc.want {
				t.Errorf("stored value = %q, %v, want %q", raw, err, tc.want)
			}
			l.Forget(tc.name)
			if got := mustGet(t, l, tc.name); !got.FromRedis || !sameLink(got, tc.link) {
				t.Errorf("Get after Forget = %+v, want %+v from Redis", got, tc.link)
			}
		})
	}
}

func TestLinksUnreadableValue(t *testing.T) {
	t.Parallel()
	_, rdb := connect(t)
	ctx := context.Background()
	l := cache.NewLinks(rdb, cache.LinkOptions{RedisTimeout: testRedisTimeout, Tier1Size: 100})
	if err := rdb.Set(ctx, "rd:v1:link:k", `{"url":"x"}`, time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	if got, ok, err := l.Get(ctx, "k"); ok || err == nil {
		t.Errorf("Get of an unreadable value = %+v, %v, %v, want a miss with an error", got, ok, err)
	}
	if st := l.Stats(); st.RedisErrors != 1 || st.Misses != 1 {
		t.Errorf("Stats = %+v, want 1 Redis error and 1 miss", st)
	}
}

func TestLinksTTL(t *testing.T) {
	t.Parallel()
	srv, rdb := connect(t)
	ctx := context.Background()

	t.Run("redis expiry is StaleUntil", func(t *testing.T) {
		clk := newClock()
		l := cache.NewLinks(rdb, cache.LinkOptions{RedisTimeout: testRedisTimeout, Tier1Size: 100, Now: clk.Now})
		tests := []struct {
			name  string
			link  cache.Link
			stale time.Duration
		}{
			{"positive", promoted("https://a.example/1", clk.Now(), 24*time.Hour, 30*24*time.Hour), 30 * 24 * time.Hour},
			{"negative", cache.Link{Status: cache.NotPromotable, FreshUntil: clk.Now().Add(5 * time.Minute), StaleUntil: clk.Now().Add(5 * time.Minute)}, 5 * time.Minute},
		}
		for _, tc := range tests {
			if err := l.Set(ctx, "ttl-"+tc.name, tc.link); err != nil {
				t.Fatalf("Set = %v", err)
			}
			pttl, err := rdb.PTTL(ctx, "rd:v1:link:ttl-"+tc.name).Result()
			if err != nil || pttl > tc.stale || pttl < tc.stale-5*time.Second {
				t.Errorf("%s: PTTL = %v, %v, want about %v", tc.name, pttl, err, tc.stale)
			}
		}
	})

	t.Run("first tier bounded by Tier1TTL", func(t *testing.T) {
		clk := newClock()
		a := cache.NewLinks(rdb, cache.LinkOptions{RedisTimeout: testRedisTimeout, Tier1Size: 100, Tier1TTL: 5 * time.Minute, Now: clk.Now})
		b := cache.NewLinks(rdb, cache.LinkOptions{RedisTimeout: testRedisTimeout, Tier1Size: 100, Now: clk.Now})
		old := promoted("https://a.example/old", clk.Now(), 24*time.Hour, 48*time.Hour)
		if err := a.Set(ctx, "k", old); err != nil {
			t.Fatal(err)
		}
		changed := promoted("https://a.example/new", clk.Now(), 24*time.Hour, 48*time.Hour)
		if err := b.Set(ctx, "k", changed); err != nil {
			t.Fatal(err)
		}
		clk.Advance(5*time.Minute - time.Millisecond)
		if got := mustGet(t, a, "k"); got.URL != old.URL || got.FromRedis {
			t.Errorf("Get before Tier1TTL = %+v, want %q from the first tier", got, old.URL)
		}
		clk.Advance(time.Millisecond)
		if got := mustGet(t, a, "k"); got.URL != changed.URL || !got.FromRedis {
			t.Errorf("Get at Tier1TTL = %+v, want %q from Redis", got, changed.URL)
		}
	})

	t.Run("first tier never past StaleUntil", func(t *testing.T) {
		clk := newClock()
		l := cache.NewLinks(rdb, cache.LinkOptions{RedisTimeout: testRedisTimeout, Tier1Size: 100, Tier1TTL: time.Hour, Now: clk.Now})
		if err := l.Set(ctx, "short", promoted("https://a.example/s", clk.Now(), time.Second, time.Minute)); err != nil {
			t.Fatal(err)
		}
		clk.Advance(time.Minute - time.Millisecond)
		if got := mustGet(t, l, "short"); got.FromRedis {
			t.Errorf("Get before StaleUntil = %+v, want a first-tier hit", got)
		}
		clk.Advance(time.Millisecond)
		// Redis still holds the key by the real clock; the cache's clock has the last word.
		mustMiss(t, l, "short")
		if _, ok := l.Peek("short"); ok {
			t.Errorf("Peek at StaleUntil = _, true, want false")
		}
	})

	t.Run("expired link not stored", func(t *testing.T) {
		clk := newClock()
		l := cache.NewLinks(rdb, cache.LinkOptions{RedisTimeout: testRedisTimeout, Tier1Size: 100, Now: clk.Now})
		if err := l.Set(ctx, "past", promoted("https://a.example/p", clk.Now(), -time.Hour, 0)); err != nil {
			t.Fatal(err)
		}
		mustMiss(t, l, "past")
		if n, err := srv.Do("EXISTS", "rd:v1:link:past"); err != nil || n != "0" {
			t.Errorf("EXISTS = %q, %v, want 0", n, err)
		}
	})
}

func TestLinksTier1Disabled(t *testing.T) {
	t.Parallel()
	_, rdb := connect(t)
	ctx := context.Background()
	l := cache.NewLinks(rdb, cache.LinkOptions{RedisTimeout: testRedisTimeout, Tier1Size: 0})
	want := promoted("https://a.example/r", time.Now(), time.Hour, 2*time.Hour)
	if err := l.Set(ctx, "k", want); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if got := mustGet(t, l, "k"); !got.FromRedis || !sameLink(got, want) {
			t.Errorf("Get = %+v, want %+v from Redis", got, want)
		}
	}
	if _, ok := l.Peek("k"); ok {
		t.Errorf("Peek with no first tier = _, true, want false")
	}
	if st := l.Stats(); st.Tier1Hits != 0 || st.RedisHits != 3 || st.Tier1Len != 0 {
		t.Errorf("Stats = %+v, want 3 Redis hits only", st)
	}
}

func TestLinksEmbedded(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clk := newClock()
	l := cache.NewLinks(nil, cache.LinkOptions{Tier1Size: 100, Tier1TTL: time.Minute, Now: clk.Now})
	want := promoted("https://a.example/e", clk.Now(), time.Hour, 2*time.Hour)
	if err := l.Set(ctx, "k", want); err != nil {
		t.Fatalf("Set = %v", err)
	}
	mustMiss(t, l, "other")
	// With no Redis to share changes through, Tier1TTL does not apply: the entry lives until StaleUntil.
	clk.Advance(2*time.Hour - time.Millisecond)
	if got := mustGet(t, l, "k"); got != want {
		t.Errorf("Get = %+v, want %+v", got, want)
	}
	clk.Advance(time.Millisecond)
	mustMiss(t, l, "k")
	if st := l.Stats(); st.Tier1Hits != 1 || st.Misses != 2 || st.RedisErrors != 0 {
		t.Errorf("Stats = %+v, want 1 hit and 2 misses", st)
	}

	none := cache.NewLinks(nil, cache.LinkOptions{Tier1Size: 0})
	if err := none.Set(ctx, "k", want); err != nil {
		t.Fatalf("Set with no tier at all = %v", err)
	}
	mustMiss(t, none, "k")
}

func TestLinksForget(t *testing.T) {
	t.Parallel()
	_, rdb := connect(t)
	ctx := context.Background()
	l := cache.NewLinks(rdb, cache.LinkOptions{RedisTimeout: testRedisTimeout, Tier1Size: 100})
	want := promoted("https://a.example/f", time.Now(), time.Hour, 2*time.Hour)
	if err := l.Set(ctx, "k", want); err != nil {
		t.Fatal(err)
	}
	l.Forget("k")
	if _, ok := l.Peek("k"); ok {
		t.Errorf("Peek after Forget = _, true, want false")
	}
	if got := mustGet(t, l, "k"); !got.FromRedis {
		t.Errorf("Get after Forget = %+v, want it from Redis", got)
	}
}

// waitFor polls cond until it holds, failing the test after a generous deadline.
var waitFor = clocktest.WaitFor

func TestLinksRedisStopped(t *testing.T) {
	t.Parallel()
	srv, rdb := connect(t)
	ctx := context.Background()
	clk := newClock()
	l := cache.NewLinks(rdb, cache.LinkOptions{RedisTimeout: testRedisTimeout, Tier1Size: 100, Tier1TTL: 5 * time.Minute, Now: clk.Now})
	before := promoted("https://a.example/before", clk.Now(), time.Hour, 2*time.Hour)
	if err := l.Set(ctx, "before", before); err != nil {
		t.Fatal(err)
	}

	srv.Stop()
	if got := mustGet(t, l, "before"); got.URL != before.URL {
		t.Errorf("Get with Redis down = %+v, want %q from the first tier", got, before.URL)
	}
	during := promoted("https://a.example/during", clk.Now(), time.Hour, 2*time.Hour)
	if err := l.Set(ctx, "during", during); err == nil {
		t.Errorf("Set with Redis down = nil, want Redis's error")
	}
	if got := mustGet(t, l, "during"); got.URL != during.URL {
		t.Errorf("Get with Redis down = %+v, want %q from the first tier", got, during.URL)
	}
	if got, ok, err := l.Get(ctx, "unknown"); ok || err == nil {
		t.Errorf("Get(unknown) with Redis down = %+v, %v, %v, want a miss with an error", got, ok, err)
	}
	if st := l.Stats(); st.RedisErrors != 2 || st.Tier1Hits != 2 || st.Misses != 1 {
		t.Errorf("Stats = %+v, want 2 Redis errors, 2 tier-1 hits, 1 miss", st)
	}

	// Past Tier1TTL the first tier asks Redis again; Redis down, it keeps answering itself, and
	// asks again only after another Tier1TTL.
	clk.Advance(5 * time.Minute)
	for i := range 2 {
		if got := mustGet(t, l, "before"); got.URL != before.URL || got.FromRedis {
			t.Errorf("Get #%d past Tier1TTL with Redis down = %+v, want %q from the first tier", i, got, before.URL)
		}
	}
	if st := l.Stats(); st.RedisErrors != 3 || st.Tier1Hits != 4 {
		t.Errorf("Stats = %+v, want 3 Redis errors, 4 tier-1 hits", st)
	}

	srv.StartAgain(t)
	after := promoted("https://a.example/after", clk.Now(), time.Hour, 2*time.Hour)
	// The client reconnects by itself; its first tries may still meet the closed connections.
	waitFor(t, "Set to reach Redis again", func() bool { return l.Set(ctx, "after", after) == nil })
	l.Forget("after")
	if got := mustGet(t, l, "after"); !got.FromRedis || got.URL != after.URL {
		t.Errorf("Get after Redis came back = %+v, want %q from Redis", got, after.URL)
	}
	// Redis came back empty: what the first tier still has goes back into it.
	clk.Advance(5 * time.Minute)
	if got := mustGet(t, l, "during"); got.URL != during.URL || got.FromRedis {
		t.Errorf("Get of a key Redis lost = %+v, want %q from the first tier", got, during.URL)
	}
	replica := cache.NewLinks(rdb, cache.LinkOptions{RedisTimeout: testRedisTimeout, Tier1Size: 100, Now: clk.Now})
	if got := mustGet(t, replica, "during"); got.URL != during.URL || !got.FromRedis {
		t.Errorf("another replica's Get = %+v, want %q written back to Redis", got, during.URL)
	}
}

func TestLinksRedisPaused(t *testing.T) {
	t.Parallel()
	srv, rdb := connect(t)
	ctx := context.Background()
	l := cache.NewLinks(rdb, cache.LinkOptions{Tier1Size: 0, RedisTimeout: 50 * time.Millisecond})
	if err := l.Set(ctx, "k", promoted("https://a.example/p", time.Now(), time.Hour, 2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	mustGet(t, l, "k")
	// A paused server holds every command until the pause ends, as one stuck in DEBUG SLEEP does;
	// CLIENT PAUSE has begun once it has answered, which DEBUG SLEEP cannot tell.
	if _, err := srv.Do("CLIENT", "PAUSE", "1000", "ALL"); err != nil {
		t.Fatalf("CLIENT PAUSE: %v", err)
	}
	got, ok, err := l.Get(ctx, "k")
	if ok || err == nil {
		t.Errorf("Get while Redis is paused = %+v, %v, %v, want a miss with a timeout error", got, ok, err)
	}
	if st := l.Stats(); st.RedisErrors != 1 {
		t.Errorf("Stats.RedisErrors = %d, want 1", st.RedisErrors)
	}
	waitFor(t, "Redis to answer again", func() bool {
		_, ok, _ := l.Get(ctx, "k")
		return ok
	})
}

func BenchmarkLinksGetTier1(b *testing.B) {
	l := cache.NewLinks(nil, cache.LinkOptions{Tier1Size: cache.DefaultTier1Size})
	ctx := context.Background()
	if err := l.Set(ctx, "https://www.aliexpress.com/item/1005001.html", promoted("https://s.click.aliexpress.com/e/_x", time.Now(), time.Hour, 2*time.Hour)); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, ok, _ := l.Get(ctx, "https://www.aliexpress.com/item/1005001.html"); !ok {
				b.Fatal("miss")
			}
		}
	})
}

func BenchmarkLinksGetRedis(b *testing.B) {
	_, rdb := connect(b)
	l := cache.NewLinks(rdb, cache.LinkOptions{RedisTimeout: testRedisTimeout, Tier1Size: 0})
	ctx := context.Background()
	if err := l.Set(ctx, "https://www.aliexpress.com/item/1005001.html", promoted("https://s.click.aliexpress.com/e/_x", time.Now(), time.Hour, 2*time.Hour)); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	// 16 goroutines a CPU, as concurrent clicks are: their GETs share round trips to Redis,
	// where two alone would each wait out a whole one.
	b.SetParallelism(16)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			_, _, _ = l.Get(ctx, "https://www.aliexpress.com/item/1005001.html")
		}
	})
	// On a busy machine Redis may miss the timeout now and then; say so rather than fail.
	st := l.Stats()
	b.ReportMetric(float64(st.Misses)/float64(st.RedisHits+st.Misses), "misses/op")
}

func BenchmarkLinksSet(b *testing.B) {
	_, rdb := connect(b)
	l := cache.NewLinks(rdb, cache.LinkOptions{RedisTimeout: testRedisTimeout, Tier1Size: cache.DefaultTier1Size})
	ctx := context.Background()
	link := promoted("https://s.click.aliexpress.com/e/_x", time.Now(), time.Hour, 2*time.Hour)
	b.ReportAllocs()
	for b.Loop() {
		_ = l.Set(ctx, "https://www.aliexpress.com/item/1005001.html", link)
	}
	b.ReportMetric(float64(l.Stats().RedisErrors)/float64(b.N), "errors/op")
}

// With Tier1Key, the first tier holds pages under their short keys, and every method finds
// them there by the page's own key.
func TestLinksTier1Key(t *testing.T) {
	t.Parallel()
	clk := newClock()
	l := cache.NewLinks(nil, cache.LinkOptions{Tier1Size: 100, Now: clk.Now, Tier1Key: aliurl.ShortKey})
	ctx := context.Background()
	pages := map[string]string{
		"https://www.aliexpress.com/item/1005001.html": "https://s.click.aliexpress.com/e/_a",
		"https://www.aliexpress.com/item/1005002.html": "https://s.click.aliexpress.com/e/_b",
		"https://www.aliexpress.us/item/1005001.html":  "https://s.click.aliexpress.com/e/_c",
		"https://www.aliexpress.com/store/1102":        "https://s.click.aliexpress.com/e/_d",
	}
	for page, link := range pages {
		if err := l.Set(ctx, page, promoted(link, clk.Now(), time.Hour, 2*time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	for page, link := range pages {
		if got, ok := l.Peek(page); !ok || got.URL != link {
			t.Errorf("Peek(%q) = %+v, %v; want %s", page, got, ok, link)
		}
	}
	l.Forget("https://www.aliexpress.com/item/1005001.html")
	if got, ok := l.Peek("https://www.aliexpress.com/item/1005001.html"); ok {
		t.Errorf("after Forget, Peek = %+v, want nothing", got)
	}
	if got, ok, err := l.Get(ctx, "https://www.aliexpress.us/item/1005001.html"); !ok || err != nil || got.URL != "https://s.click.aliexpress.com/e/_c" {
		t.Errorf("the same product on another site: Get = %+v, %v, %v", got, ok, err)
	}
	// Past StaleUntil, the entry is dropped under its short key too.
	clk.Advance(3 * time.Hour)
	if got, ok, _ := l.Get(ctx, "https://www.aliexpress.com/item/1005002.html"); ok {
		t.Errorf("past StaleUntil, Get = %+v, want a miss", got)
	}
	if n := l.Stats().Tier1Len; n != 2 {
		t.Errorf("the first tier holds %d entries, want 2 (the expired one dropped)", n)
	}
}
