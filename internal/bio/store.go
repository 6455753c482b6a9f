package bio

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redirector/redirector/internal/link"
	"github.com/redirector/redirector/internal/stats"
)

// Keys of pages (see the key layout in internal/store/records.go). A page is written only by an
// admin (the API, import): it is an owner, like a short-link record. Its keys carry the lower-case
// handle as their hash tag.
//
//	rd:v1:page:{handle}             the page (JSON); owns the keys below
//	rd:v1:page:{handle}:n           page views (hash, field views); owned by the page: written only while it exists, deleted with it
//	rd:v1:page:{handle}:d:YYYYMMDD  one day's page views (hash); expires the retention after its last write
//	rd:v1:page:{handle}:u:<visitor> a visitor counted on the page (string "1"; visitor: 16 hex digits of the
//	                                day's keyed hash, never an address); expires CLICK_DEDUP_WINDOW after it was counted
//	rd:v1:pages                     the handles of the pages (sorted set, score: created, unix ms); each member owned by its page
const (
	pageKeyPrefix = "rd:v1:page:{"
	pageListKey   = "rd:v1:pages"
	fieldViews    = "views"
	// maxPages bounds List and Each: pages are made by admins, one per creator.
	maxPages = 10_000
)

func pageKey(key string) string         { return pageKeyPrefix + key + "}" }
func viewsKey(key string) string        { return pageKeyPrefix + key + "}:n" }
func viewDayKey(key, day string) string { return pageKeyPrefix + key + "}:d:" + day }
func checkedKey(handle string) (string, error) {
	k, ok := Key(handle)
	if !ok {
		return "", CheckHandle(handle)
	}
	return k, nil
}

// Store keeps pages and their view counts in Redis. Its methods are safe for concurrent use. Its
// errors wrap link.ErrExists, link.ErrNotFound and link.ErrInvalid where each method says so; any
// other is the store's.
type Store struct {
	rdb       redis.UniversalClient
	retention time.Duration
}

// NewStore returns a Store in rdb that keeps each day's page views for retention (<= 0: 90 days).
func NewStore(rdb redis.UniversalClient, retention time.Duration) *Store {
	if retention <= 0 {
		retention = 90 * 24 * time.Hour
	}
	return &Store{rdb: rdb, retention: retention}
}

// Create stores a new page (which must pass Check as stored); link.ErrExists when a page has its
// handle in any case.
func (s *Store) Create(ctx context.Context, p Page) error {
	k, b, err := encode(p)
	if err != nil {
		return err
	}
	ok, err := s.rdb.SetNX(ctx, pageKey(k), b, 0).Result()
	if err != nil {
		return fmt.Errorf("create page %s: %w", k, err)
	}
	if !ok {
		return fmt.Errorf("create page %s: %w", k, link.ErrExists)
	}
	// Listed after it exists: a crash in between leaves it out of List until it is written again.
	if err := s.rdb.ZAdd(ctx, pageListKey, redis.Z{Score: float64(p.Created.UnixMilli()), Member: k}).Err(); err != nil {
		return fmt.Errorf("list page %s: %w", k, err)
	}
	return nil
}

// Replace overwrites the page with p's handle; link.ErrNotFound when there is none.
func (s *Store) Replace(ctx context.Context, p Page) error {
	k, b, err := encode(p)
	if err != nil {
		return err
	}
	ok, err := s.rdb.SetXX(ctx, pageKey(k), b, 0).Result()
	if err != nil {
		return fmt.Errorf("replace page %s: %w", k, err)
	}
	if !ok {
		return fmt.Errorf("replace page %s: %w", k, link.ErrNotFound)
	}
	return nil
}

// Put stores p unless a page with its handle was updated at p.Updated or later (import): it
// returns whether it wrote.
func (s *Store) Put(ctx context.Context, p Page) (bool, error) {
	k, b, err := encode(p)
	if err != nil {
		return false, err
	}
	old, ok, err := s.Get(ctx, k)
	if err != nil {
		return false, err
	}
	if ok && !old.Updated.Before(p.Updated) {
		return false, nil
	}
	if err := s.rdb.Set(ctx, pageKey(k), b, 0).Err(); err != nil {
		return false, fmt.Errorf("put page %s: %w", k, err)
	}
	if err := s.rdb.ZAdd(ctx, pageListKey, redis.Z{Score: float64(p.Created.UnixMilli()), Member: k}).Err(); err != nil {
		return false, fmt.Errorf("list page %s: %w", k, err)
	}
	return true, nil
}

// Get returns the page with handle (in any case); ok=false when there is none. A page read back
// is checked as input is: one that fails is an error.
func (s *Store) Get(ctx context.Context, handle string) (Page, bool, error) {
	k, err := checkedKey(handle)
	if err != nil {
		return Page{}, false, nil // no page can have it
	}
	b, err := s.rdb.Get(ctx, pageKey(k)).Bytes()
	if errors.Is(err, redis.Nil) {
		return Page{}, false, nil
	}
	if err != nil {
		return Page{}, false, fmt.Errorf("get page %s: %w", k, err)
	}
	var p Page
	if err := json.Unmarshal(b, &p); err != nil {
		return Page{}, false, fmt.Errorf("get page %s: %w", k, err)
	}
	if err := Check(p, true); err != nil {
		return Page{}, false, fmt.Errorf("get page %s: stored page refused: %w", k, err)
	}
	if kk, _ := Key(p.Handle); kk != k {
		return Page{}, false, fmt.Errorf("get page %s: stored under another handle %q", k, p.Handle)
	}
	return p, true, nil
}

// Delete deletes the page with handle and its view totals; link.ErrNotFound when there is none.
func (s *Store) Delete(ctx context.Context, handle string) error {
	k, err := checkedKey(handle)
	if err != nil {
		return fmt.Errorf("delete page: %w", link.ErrNotFound)
	}
	n, err := s.rdb.Del(ctx, pageKey(k)).Result()
	if err != nil {
		return fmt.Errorf("delete page %s: %w", k, err)
	}
	// What it owned goes after it: a crash in between leaves keys that readers skip and the next
	// page with this handle takes over.
	if err := s.rdb.Del(ctx, viewsKey(k)).Err(); err != nil {
		return fmt.Errorf("delete page %s: views: %w", k, err)
	}
	if err := s.rdb.ZRem(ctx, pageListKey, k).Err(); err != nil {
		return fmt.Errorf("delete page %s: unlist: %w", k, err)
	}
	if n == 0 {
		return fmt.Errorf("delete page %s: %w", k, link.ErrNotFound)
	}
	return nil
}

// List returns every page, oldest first (at most 10,000); listed handles whose page is gone are
// skipped.
func (s *Store) List(ctx context.Context) ([]Page, error) {
	var out []Page
	err := s.Each(ctx, func(p Page) error {
		out = append(out, p)
		return nil
	})
	return out, err
}

// Each calls fn for every page, oldest first (at most 10,000), stopping at fn's first error.
func (s *Store) Each(ctx context.Context, fn func(Page) error) error {
	keys, err := s.rdb.ZRange(ctx, pageListKey, 0, maxPages-1).Result()
	if err != nil {
		return fmt.Errorf("list pages: %w", err)
	}
	for _, k := range keys {
		p, ok, err := s.Get(ctx, k)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		if err := fn(p); err != nil {
			return err
		}
	}
	return nil
}

// Views returns the page's views over its life; zero for a page never viewed.
func (s *Store) Views(ctx context.Context, handle string) (int64, error) {
	k, err := checkedKey(handle)
	if err != nil {
		return 0, nil
	}
	v, err := s.rdb.HGet(ctx, viewsKey(k), fieldViews).Result()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("page views %s: %w", k, err)
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("page views %s: %w", k, err)
	}
	return n, nil
}

// addViewsScript adds views to a page's totals and day unless the page does not exist.
// KEYS: page, totals, day. ARGV: views, day TTL (ms).
var addViewsScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HINCRBY', KEYS[2], 'views', ARGV[1])
redis.call('HINCRBY', KEYS[3], 'views', ARGV[1])
redis.call('PEXPIRE', KEYS[3], ARGV[2])
return 1
`)

// AddClicks adds page views, making Store a clicks.Sink for a clicks.Counter of page views: each
// count's ID is a page's key (lower-case handle) and its Clicks the views. A count for a handle
// without a page is skipped, so views of made-up handles write nothing. Counts are not applied
// once-only (Writer and Seq are ignored): a batch retried after a write that did land counts twice.
func (s *Store) AddClicks(ctx context.Context, counts []link.ClickCount) error {
	for _, cc := range counts {
		if _, ok := Key(cc.ID); !ok || len(cc.Day) != 8 || cc.Clicks < 0 {
			return fmt.Errorf("add page views: bad count %q %q", cc.ID, cc.Day)
		}
	}
	if err := addViewsScript.Load(ctx, s.rdb).Err(); err != nil {
		return fmt.Errorf("add page views: load script: %w", err)
	}
	ttl := s.retention.Milliseconds()
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, cc := range counts {
			if cc.Clicks == 0 {
				continue
			}
			addViewsScript.EvalSha(ctx, p, []string{pageKey(cc.ID), viewsKey(cc.ID), viewDayKey(cc.ID, cc.Day)}, cc.Clicks, ttl)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("add page views: %w", err)
	}
	return nil
}

func encode(p Page) (key string, b []byte, err error) {
	if err := Check(p, true); err != nil {
		return "", nil, err
	}
	k, _ := Key(p.Handle)
	b, err = json.Marshal(p)
	if err != nil {
		return "", nil, fmt.Errorf("encode page %s: %w", k, err)
	}
	return k, b, nil
}

// Secrets names visitors: the day's secret shared by every replica (*store.Counters is one).
type Secrets interface {
	DaySecret(ctx context.Context, day string) ([]byte, error)
}

// ViewSink counts page views the way clicks are counted (issue 17): once per visitor per page per
// dedup window (CLICK_DEDUP_WINDOW), the visitor named by the day's keyed hash, never by an address.
// It is the clicks.VisitSink of a clicks.Counter of page views, whose Visit takes the page's key as
// id: the views wait in that Counter and are written at its flush, off the request path.
type ViewSink struct {
	pages   *Store
	secrets Secrets
	window  time.Duration // 0: every view counts
}

// DefaultViewWindow is ViewSink's dedup window when given 0, as store.DefaultDedupWindow is the clicks'.
const DefaultViewWindow = time.Hour

// ViewSink returns the sink of s's page views, naming visitors by secrets' day secret; each visitor
// counts once per page within window (0: DefaultViewWindow; negative: every view counts, as
// CLICK_DEDUP_WINDOW=0 does).
func (s *Store) ViewSink(secrets Secrets, window time.Duration) *ViewSink {
	if window == 0 {
		window = DefaultViewWindow
	}
	return &ViewSink{pages: s, secrets: secrets, window: max(window, 0)}
}

// DaySecret returns the secret that names visitors on day ("20060102").
func (v *ViewSink) DaySecret(ctx context.Context, day string) ([]byte, error) {
	return v.secrets.DaySecret(ctx, day)
}

// AddClicks adds views counted without visitors (see Store.AddClicks).
func (v *ViewSink) AddClicks(ctx context.Context, counts []link.ClickCount) error {
	return v.pages.AddClicks(ctx, counts)
}

func viewerKey(key, visitor string) string { return pageKeyPrefix + key + "}:u:" + visitor }

// addViewersScript counts a page's views on one day unless the page does not exist: with a window,
// each visitor whose key it sets (NX, expiring after the window) counts 1 and the others 0; without
// one, each visit counts its views. Returns the views counted.
// KEYS: page, totals, day, then (with a window) one visitor key per visit. ARGV: window (ms, "0":
// none), day TTL (ms), then (without a window) each visit's views.
var addViewersScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local n = 0
if ARGV[1] == '0' then
  for i = 3, #ARGV do n = n + tonumber(ARGV[i]) end
else
  for i = 4, #KEYS do
    if redis.call('SET', KEYS[i], '1', 'NX', 'PX', ARGV[1]) then n = n + 1 end
  end
end
if n > 0 then
  redis.call('HINCRBY', KEYS[2], 'views', n)
  redis.call('HINCRBY', KEYS[3], 'views', n)
  redis.call('PEXPIRE', KEYS[3], ARGV[2])
end
return n
`)

// AddVisits counts each view whose visitor was not counted on its page within the window; the ID
// of a visit is the page's key (lower-case handle). Views of a handle without a page write nothing.
// A bad visit makes it return an error having written nothing. With a window, applying a batch
// again counts nothing twice (its visitors were counted); without one, a batch retried after a
// write that did land counts twice, as clicks without a window do.
func (v *ViewSink) AddVisits(ctx context.Context, visits []stats.Visit) error {
	type pageDay struct{ key, day string }
	groups := make(map[pageDay][]stats.Visit)
	var order []pageDay
	for _, vi := range visits {
		if _, ok := Key(vi.ID); !ok || vi.ID != strings.ToLower(vi.ID) {
			return fmt.Errorf("add page views: bad handle %q", vi.ID)
		}
		if _, err := time.Parse("20060102", vi.Day); err != nil || len(vi.Day) != 8 {
			return fmt.Errorf("add page views %s: bad day %q", vi.ID, vi.Day)
		}
		if _, err := hex.DecodeString(vi.Visitor); err != nil || len(vi.Visitor) != 16 {
			return fmt.Errorf("add page views %s: visitor %q is not 16 hex digits", vi.ID, vi.Visitor)
		}
		if vi.Clicks < 0 {
			return fmt.Errorf("add page views %s: negative views", vi.ID)
		}
		k := pageDay{vi.ID, vi.Day}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], vi)
	}
	if len(order) == 0 {
		return nil
	}
	if err := addViewersScript.Load(ctx, v.pages.rdb).Err(); err != nil {
		return fmt.Errorf("add page views: load script: %w", err)
	}
	window, ttl := v.window.Milliseconds(), v.pages.retention.Milliseconds()
	_, err := v.pages.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, k := range order {
			keys := []string{pageKey(k.key), viewsKey(k.key), viewDayKey(k.key, k.day)}
			args := []any{window, ttl}
			for _, vi := range groups[k] {
				if window > 0 {
					keys = append(keys, viewerKey(k.key, vi.Visitor))
				} else {
					args = append(args, max(vi.Clicks, 1))
				}
			}
			addViewersScript.EvalSha(ctx, p, keys, args...)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("add page views: %w", err)
	}
	return nil
}
