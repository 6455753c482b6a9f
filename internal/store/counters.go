package store

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redirector/redirector/internal/link"
)

// DefaultRetention is how long a day's counts are kept when NewCounters is given no retention.
const DefaultRetention = 90 * 24 * time.Hour

// maxStatsDays bounds the days Stats reads at once.
const maxStatsDays = 3660

// Counter fields, in both the totals hash and the day hashes.
const (
	fieldClicks = "clicks"
	fieldScans  = "scans"
	fieldBio    = "bio" // clicks that came from a bio page's item
)

// Counters keeps click counts per short link: totals for its whole life in the hash rd:v1:{<id>}:n, kept
// as long as the link's record (live or tombstone), and one hash per UTC day, rd:v1:{<id>}:d:<YYYYMMDD>,
// which expires after the retention (counted from its last write). Only links with a record are
// counted. Its methods are safe for concurrent use.
type Counters struct {
	rdb       redis.UniversalClient
	retention time.Duration
	window    time.Duration // CountersOptions.DedupWindow
	top       int           // CountersOptions.Top

	secretsMu sync.Mutex        // guards secrets
	secrets   map[string][]byte // the visitor secret per UTC day, as read from the store
}

// NewCounters returns Counters stored in rdb that keep each day's counts for retention; retention <= 0
// means DefaultRetention. Visits are counted with CountersOptions' defaults.
func NewCounters(rdb redis.UniversalClient, retention time.Duration) *Counters {
	return NewCountersWith(rdb, CountersOptions{Retention: retention})
}

// CountersOptions tune Counters; a zero field takes the default named on it.
type CountersOptions struct {
	// Retention is how long a day's counts are kept after its last write (CLICK_RETENTION). Default
	// DefaultRetention.
	Retention time.Duration
	// DedupWindow is how long a visitor counted on a link is not counted again on it
	// (CLICK_DEDUP_WINDOW). Default DefaultDedupWindow; negative: every visit counts.
	DedupWindow time.Duration
	// Top is how many values each dimension keeps per link per day, the rest counted as "other"
	// (STATS_TOP). Default DefaultTop.
	Top int
}

// NewCountersWith returns Counters stored in rdb, tuned by opts.
func NewCountersWith(rdb redis.UniversalClient, opts CountersOptions) *Counters {
	if opts.Retention <= 0 {
		opts.Retention = DefaultRetention
	}
	if opts.DedupWindow == 0 {
		opts.DedupWindow = DefaultDedupWindow
	}
	if opts.Top <= 0 {
		opts.Top = DefaultTop
	}
	return &Counters{rdb: rdb, retention: opts.Retention, window: max(opts.DedupWindow, 0), top: opts.Top, secrets: make(map[string][]byte)}
}

func counterKey(id string) string { return recordKeyPrefix + id + "}:n" }

func dayKey(id, day string) string { return recordKeyPrefix + id + "}:d:" + day }

// appliedKey holds, per writer, the last batch Seq applied to a link's counters.
func appliedKey(id string) string { return recordKeyPrefix + id + "}:w" }

// appliedTTL is how long a writer's last Seq is remembered for a link: far longer than any retry.
const appliedTTL = 7 * 24 * time.Hour

// addClicksScript adds a count unless the link has no live record (none, or a tombstone), or its
// writer's batch was applied already. Returns 1 when added, 0 when skipped.
// KEYS: record, totals, day, applied. ARGV: clicks, scans, day TTL (ms), writer ("" for none), seq,
// applied TTL (ms), bio, now (unix ms: the totals' "last", the last click, only ever raised).
var addClicksScript = redis.NewScript(`
local rec = redis.call('HMGET', KEYS[1], 'target', 'deleted')
if not rec[1] or rec[2] == '1' then return 0 end
if ARGV[4] ~= '' then
  local last = tonumber(redis.call('HGET', KEYS[4], ARGV[4]) or '0')
  if tonumber(ARGV[5]) <= last then return 0 end
  redis.call('HSET', KEYS[4], ARGV[4], ARGV[5])
  redis.call('PEXPIRE', KEYS[4], ARGV[6])
end
if ARGV[1] ~= '0' then
  redis.call('HINCRBY', KEYS[2], 'clicks', ARGV[1])
  redis.call('HINCRBY', KEYS[3], 'clicks', ARGV[1])
  if ARGV[8] and tonumber(ARGV[8]) > tonumber(redis.call('HGET', KEYS[2], 'last') or '0') then
    redis.call('HSET', KEYS[2], 'last', ARGV[8])
  end
end
if ARGV[2] ~= '0' then
  redis.call('HINCRBY', KEYS[2], 'scans', ARGV[2])
  redis.call('HINCRBY', KEYS[3], 'scans', ARGV[2])
end
if ARGV[7] and ARGV[7] ~= '0' then
  redis.call('HINCRBY', KEYS[2], 'bio', ARGV[7])
  redis.call('HINCRBY', KEYS[3], 'bio', ARGV[7])
end
redis.call('PEXPIRE', KEYS[3], ARGV[3])
return 1
`)

// AddClicks adds each count to its link's totals and to its day, and sets the day's expiry to the
// retention, all in one pipeline (one round trip per server). A count whose link has no live record is
// skipped: every counter key belongs to a record (see the key layout in records.go), so clicks on ids
// nobody created cannot make the store grow; and a deleted link (a tombstone, which keeps the totals it
// had) is never counted again, whatever a replica answered while the store was away (a click served
// from a stale copy during an outage and written after it). Counts are checked first: an empty or
// brace-carrying id, a Day that is not a "20060102" date, or negative numbers make it return an error
// having written nothing. Entries with nothing to add are skipped. The batch is not a transaction (its
// keys lie in many cluster slots): when the store fails midway, an error is returned and part of the
// batch may have been counted. Counts that carry a Writer are applied at most once (see link.ClickCount),
// so retrying such a batch after an error cannot count a click twice.
func (c *Counters) AddClicks(ctx context.Context, counts []link.ClickCount) error {
	n := 0
	for _, cc := range counts {
		if err := checkClickCount(cc); err != nil {
			return fmt.Errorf("add clicks: %w", err)
		}
		if cc.Clicks != 0 || cc.Scans != 0 || cc.Bio != 0 {
			n++
		}
	}
	if n == 0 {
		return nil
	}
	if err := addClicksScript.Load(ctx, c.rdb).Err(); err != nil {
		return fmt.Errorf("add clicks: load script: %w", err)
	}
	dayTTL, markTTL := c.retention.Milliseconds(), appliedTTL.Milliseconds()
	now := time.Now().UnixMilli()
	_, err := c.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, cc := range counts {
			if cc.Clicks == 0 && cc.Scans == 0 && cc.Bio == 0 {
				continue
			}
			addClicksScript.EvalSha(ctx, p, []string{recordKey(cc.ID), counterKey(cc.ID), dayKey(cc.ID, cc.Day), appliedKey(cc.ID)},
				cc.Clicks, cc.Scans, dayTTL, cc.Writer, cc.Seq, markTTL, cc.Bio, now)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("add clicks: %w", err)
	}
	return nil
}

func checkClickCount(cc link.ClickCount) error {
	if err := checkID(cc.ID); err != nil {
		return err
	}
	if len(cc.Day) != 8 {
		return fmt.Errorf("%s: day %q is not YYYYMMDD", cc.ID, cc.Day)
	}
	if _, err := time.Parse("20060102", cc.Day); err != nil {
		return fmt.Errorf("%s: day %q is not YYYYMMDD", cc.ID, cc.Day)
	}
	if cc.Clicks < 0 || cc.Scans < 0 || cc.Bio < 0 {
		return fmt.Errorf("%s: negative count", cc.ID)
	}
	return nil
}

// Stats returns the link's totals and its counts on each of the last days UTC days up to now's, oldest
// first, days without clicks included as zeros, read in one round trip; Visitors sums those days'
// distinct visitors. An id never clicked has zero
// Stats; that is not an error. days must be between 0 and 3660.
func (c *Counters) Stats(ctx context.Context, id string, days int, now time.Time) (link.Stats, error) {
	if err := checkID(id); err != nil {
		return link.Stats{}, fmt.Errorf("stats: %w", err)
	}
	if days < 0 || days > maxStatsDays {
		return link.Stats{}, fmt.Errorf("stats %s: days %d not in 0..%d", id, days, maxStatsDays)
	}
	today := now.UTC()
	first := time.Date(today.Year(), today.Month(), today.Day()-days+1, 0, 0, 0, 0, time.UTC)
	cmds, err := c.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.HMGet(ctx, counterKey(id), fieldClicks, fieldScans, fieldBio)
		for i := range days {
			p.HMGet(ctx, dayKey(id, first.AddDate(0, 0, i).Format("20060102")), fieldClicks, fieldScans, fieldBio)
		}
		for i := range days {
			p.PFCount(ctx, visitorsKey(id, first.AddDate(0, 0, i).Format("20060102")))
		}
		return nil
	})
	if err != nil {
		return link.Stats{}, fmt.Errorf("stats %s: %w", id, err)
	}
	var s link.Stats
	if s.Clicks, s.Scans, s.Bio, err = parseCounts(cmds[0]); err != nil {
		return link.Stats{}, fmt.Errorf("stats %s: %w", id, err)
	}
	s.Daily = make([]link.Day, days)
	for i := range days {
		d := &s.Daily[i]
		d.Date = first.AddDate(0, 0, i).Format(time.DateOnly)
		if d.Clicks, d.Scans, d.Bio, err = parseCounts(cmds[i+1]); err != nil {
			return link.Stats{}, fmt.Errorf("stats %s: %s: %w", id, d.Date, err)
		}
		d.Visitors = cmds[days+1+i].(*redis.IntCmd).Val()
		s.Visitors += d.Visitors
	}
	return s, nil
}

// parseCounts reads the reply of HMGET clicks scans bio; missing fields are zero.
func parseCounts(cmd redis.Cmder) (clicks, scans, bio int64, err error) {
	vals := cmd.(*redis.SliceCmd).Val()
	if len(vals) != 3 {
		return 0, 0, 0, fmt.Errorf("counts: %d values", len(vals))
	}
	var n [3]int64
	for i, v := range vals {
		if v == nil {
			continue
		}
		s, ok := v.(string)
		if !ok {
			return 0, 0, 0, fmt.Errorf("counts: got %T", v)
		}
		if n[i], err = strconv.ParseInt(s, 10, 64); err != nil {
			return 0, 0, 0, fmt.Errorf("counts: %w", err)
		}
	}
	return n[0], n[1], n[2], nil
}

// Totals returns the totals (Clicks and Scans; no Daily) of each id, in order, read in one pipeline.
// An id never clicked has zero totals. It is meant for export.
func (c *Counters) Totals(ctx context.Context, ids []string) ([]link.Stats, error) {
	for _, id := range ids {
		if err := checkID(id); err != nil {
			return nil, fmt.Errorf("totals: %w", err)
		}
	}
	if len(ids) == 0 {
		return nil, nil
	}
	cmds, err := c.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, id := range ids {
			p.HMGet(ctx, counterKey(id), fieldClicks, fieldScans, fieldBio)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("totals: %w", err)
	}
	out := make([]link.Stats, len(ids))
	for i, cmd := range cmds {
		if out[i].Clicks, out[i].Scans, out[i].Bio, err = parseCounts(cmd); err != nil {
			return nil, fmt.Errorf("totals %s: %w", ids[i], err)
		}
	}
	return out, nil
}

// restoreTotalsScript raises each total to at least the given count, if the link has a record.
// KEYS: record, totals. ARGV: clicks, scans. Returns 1 when a total was raised.
var restoreTotalsScript = redis.NewScript(`
if redis.call('HEXISTS', KEYS[1], 'target') == 0 then return 0 end
local raised = 0
for i, f in ipairs({'clicks', 'scans'}) do
  local want = tonumber(ARGV[i])
  if want > (tonumber(redis.call('HGET', KEYS[2], f) or '0') or 0) then
    redis.call('HSET', KEYS[2], f, ARGV[i])
    raised = 1
  end
end
return raised
`)

// RestoreTotals raises the link's totals to at least clicks and scans, as an import does: setting
// rather than adding makes importing a file twice change nothing, and a total that grew since the
// file was made is kept. It is skipped (raised false) for an id without a record, so that counts keep
// their owner. Negative counts are an error.
func (c *Counters) RestoreTotals(ctx context.Context, id string, clicks, scans int64) (raised bool, err error) {
	if err := checkID(id); err != nil {
		return false, fmt.Errorf("restore totals: %w", err)
	}
	if clicks < 0 || scans < 0 {
		return false, fmt.Errorf("restore totals %s: negative count", id)
	}
	n, err := restoreTotalsScript.Run(ctx, c.rdb, []string{recordKey(id), counterKey(id)}, clicks, scans).Int()
	if err != nil {
		return false, fmt.Errorf("restore totals %s: %w", id, err)
	}
	return n == 1, nil
}
