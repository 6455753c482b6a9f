package store

import (
	"context"
	"fmt"
	"strconv"
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
)

// Counters keeps click counts per short link: totals for its whole life in the hash rd:v1:{<id>}:n, kept
// as long as the link's record (live or tombstone), and one hash per UTC day, rd:v1:{<id>}:d:<YYYYMMDD>,
// which expires after the retention (counted from its last write). Only links with a record are
// counted. Its methods are safe for concurrent use.
type Counters struct {
	rdb       redis.UniversalClient
	retention time.Duration
}

// NewCounters returns Counters stored in rdb that keep each day's counts for retention; retention <= 0
// means DefaultRetention.
func NewCounters(rdb redis.UniversalClient, retention time.Duration) *Counters {
	if retention <= 0 {
		retention = DefaultRetention
	}
	return &Counters{rdb: rdb, retention: retention}
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
// applied TTL (ms).
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
end
if ARGV[2] ~= '0' then
  redis.call('HINCRBY', KEYS[2], 'scans', ARGV[2])
  redis.call('HINCRBY', KEYS[3], 'scans', ARGV[2])
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
		if cc.Clicks != 0 || cc.Scans != 0 {
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
	_, err := c.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, cc := range counts {
			if cc.Clicks == 0 && cc.Scans == 0 {
				continue
			}
			addClicksScript.EvalSha(ctx, p, []string{recordKey(cc.ID), counterKey(cc.ID), dayKey(cc.ID, cc.Day), appliedKey(cc.ID)},
				cc.Clicks, cc.Scans, dayTTL, cc.Writer, cc.Seq, markTTL)
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
	if cc.Clicks < 0 || cc.Scans < 0 {
		return fmt.Errorf("%s: negative count", cc.ID)
	}
	return nil
}

// Stats returns the link's totals and its counts on each of the last days UTC days up to now's, oldest
// first, days without clicks included as zeros, read in one round trip. An id never clicked has zero
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
		p.HMGet(ctx, counterKey(id), fieldClicks, fieldScans)
		for i := range days {
			p.HMGet(ctx, dayKey(id, first.AddDate(0, 0, i).Format("20060102")), fieldClicks, fieldScans)
		}
		return nil
	})
	if err != nil {
		return link.Stats{}, fmt.Errorf("stats %s: %w", id, err)
	}
	var s link.Stats
	if s.Clicks, s.Scans, err = parseCounts(cmds[0]); err != nil {
		return link.Stats{}, fmt.Errorf("stats %s: %w", id, err)
	}
	s.Daily = make([]link.Day, days)
	for i := range days {
		d := &s.Daily[i]
		d.Date = first.AddDate(0, 0, i).Format(time.DateOnly)
		if d.Clicks, d.Scans, err = parseCounts(cmds[i+1]); err != nil {
			return link.Stats{}, fmt.Errorf("stats %s: %s: %w", id, d.Date, err)
		}
	}
	return s, nil
}

// parseCounts reads the reply of HMGET clicks scans; missing fields are zero.
func parseCounts(cmd redis.Cmder) (clicks, scans int64, err error) {
	vals := cmd.(*redis.SliceCmd).Val()
	if len(vals) != 2 {
		return 0, 0, fmt.Errorf("counts: %d values", len(vals))
	}
	var n [2]int64
	for i, v := range vals {
		if v == nil {
			continue
		}
		s, ok := v.(string)
		if !ok {
			return 0, 0, fmt.Errorf("counts: got %T", v)
		}
		if n[i], err = strconv.ParseInt(s, 10, 64); err != nil {
			return 0, 0, fmt.Errorf("counts: %w", err)
		}
	}
	return n[0], n[1], nil
}
