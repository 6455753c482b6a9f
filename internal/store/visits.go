package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redirector/redirector/internal/stats"
)

// Defaults of CountersOptions.
const (
	// DefaultDedupWindow is how long a visitor counted on a link is not counted again (CLICK_DEDUP_WINDOW).
	DefaultDedupWindow = time.Hour
	// DefaultTop is how many values a dimension keeps per link per day (STATS_TOP).
	DefaultTop = 50
)

// MaxReportDays bounds the days one Report reads.
const MaxReportDays = 366

// secretTTL is how long a day's visitor secret is kept: through its day and the writes of its last
// clicks after midnight, then forgotten, so that no hash of that day can be tied to an address again.
const secretTTL = 48 * time.Hour

// Keys of the visit counts (see the key layout in records.go).
func visitorKey(id, visitor string) string    { return recordKeyPrefix + id + "}:u:" + visitor }
func visitorsKey(id, day string) string       { return recordKeyPrefix + id + "}:v:" + day }
func dimKey(id, day, dim string) string       { return recordKeyPrefix + id + "}:s:" + day + ":" + dim }
func allTotalsKey(day string) string          { return "rd:v1:stats:{" + day + "}:n" }
func allVisitorsKey(day string) string        { return "rd:v1:stats:{" + day + "}:v" }
func allDimKey(day, dim string) string        { return "rd:v1:stats:{" + day + "}:" + dim }
func secretKey(day string) string             { return "rd:v1:salt:" + day }
func linkDayKeys(id, day string) (k []string) { return dayKeys(id, day, dayKey, visitorsKey, dimKey) }

// dayKeys lists a day's totals, visitors and dimension keys, in that order.
func dayKeys(id, day string, totals, visitors func(id, day string) string, dim func(id, day, dim string) string) []string {
	k := make([]string, 0, 2+stats.NumDims)
	k = append(k, totals(id, day), visitors(id, day))
	for _, d := range stats.Dimensions {
		k = append(k, dim(id, day, d))
	}
	return k
}

func allDayKeys(day string) []string {
	return dayKeys("", day,
		func(_, d string) string { return allTotalsKey(d) },
		func(_, d string) string { return allVisitorsKey(d) },
		func(_, d, dim string) string { return allDimKey(d, dim) })
}

// addVisitsScript counts a link's visits on one day: each visitor not counted on the link within the
// window is counted once, its visitor added to the day's distinct count, and its value in each
// dimension counted, in at most top values per dimension plus "other". Nothing is counted when the link
// has no record. Returns per visit the clicks counted: 0 or 1 (its clicks without a window).
// KEYS: record, totals, day, visitors, the dimensions' keys (stats.Dimensions order), then one visitor
// key per visit. ARGV: window (ms, "0": none, and each visit counts its clicks), day TTL (ms), top, then
// per visit: its visitor, its kind ("1" a scan, "2" a bio page's click, "0" another click), its clicks,
// and its value in each dimension.
var addVisitsScript = redis.NewScript(`
if redis.call('HEXISTS', KEYS[1], 'target') == 0 then return {} end
local ndims = 6
local first = 5 + ndims
local top = tonumber(ARGV[3])
local out = {}
local clicks, scans, bio = 0, 0, 0
for i = first, #KEYS do
  local a = 4 + (i - first) * (3 + ndims)
  local counted = 0
  if ARGV[1] == '0' or redis.call('SET', KEYS[i], '1', 'NX', 'PX', ARGV[1]) then
    counted = 1
    if ARGV[1] == '0' then counted = tonumber(ARGV[a + 2]) end
    clicks = clicks + counted
    if ARGV[a + 1] == '1' then scans = scans + counted elseif ARGV[a + 1] == '2' then bio = bio + counted end
    redis.call('PFADD', KEYS[4], ARGV[a])
    for d = 1, ndims do
      local k, v = KEYS[4 + d], ARGV[a + 2 + d]
      if redis.call('HEXISTS', k, v) == 0 and redis.call('HLEN', k) >= top then v = 'other' end
      redis.call('HINCRBY', k, v, counted)
    end
  end
  out[#out + 1] = counted
end
if clicks > 0 then
  redis.call('HINCRBY', KEYS[2], 'clicks', clicks)
  redis.call('HINCRBY', KEYS[3], 'clicks', clicks)
  if scans > 0 then
    redis.call('HINCRBY', KEYS[2], 'scans', scans)
    redis.call('HINCRBY', KEYS[3], 'scans', scans)
  end
  if bio > 0 then
    redis.call('HINCRBY', KEYS[2], 'bio', bio)
    redis.call('HINCRBY', KEYS[3], 'bio', bio)
  end
  for k = 3, 4 + ndims do redis.call('PEXPIRE', KEYS[k], ARGV[2]) end
end
return out
`)

// addAllScript adds counted visits to the counts of one day across all links, each dimension bounded
// like a link's. KEYS: totals, visitors, the dimensions' keys. ARGV: day TTL (ms), top, clicks, scans,
// the number of visitors n, n visitors, then per dimension: the number of values m and m pairs of
// value and count.
var addAllScript = redis.NewScript(`
local ndims = 6
local top = tonumber(ARGV[2])
redis.call('HINCRBY', KEYS[1], 'clicks', ARGV[3])
if ARGV[4] ~= '0' then redis.call('HINCRBY', KEYS[1], 'scans', ARGV[4]) end
local n = tonumber(ARGV[5])
local a = 6
for i = 0, n - 1, 500 do
  redis.call('PFADD', KEYS[2], unpack(ARGV, a + i, a + math.min(i + 499, n - 1)))
end
a = a + n
for d = 1, ndims do
  local k = KEYS[2 + d]
  local m = tonumber(ARGV[a])
  a = a + 1
  for j = 1, m do
    local v = ARGV[a]
    if redis.call('HEXISTS', k, v) == 0 and redis.call('HLEN', k) >= top then v = 'other' end
    redis.call('HINCRBY', k, v, ARGV[a + 1])
    a = a + 2
  end
end
for i = 1, 2 + ndims do redis.call('PEXPIRE', KEYS[i], ARGV[1]) end
return 1
`)

// DaySecret returns the secret that names visitors on day ("20060102"): drawn at random by the first
// replica that needs it and shared through the store, where it expires two days later. It is cached
// in the process.
func (c *Counters) DaySecret(ctx context.Context, day string) ([]byte, error) {
	if err := checkDay(day); err != nil {
		return nil, fmt.Errorf("day secret: %w", err)
	}
	c.secretsMu.Lock()
	s, ok := c.secrets[day]
	c.secretsMu.Unlock()
	if ok {
		return s, nil
	}
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	if err := c.rdb.SetNX(ctx, secretKey(day), hex.EncodeToString(b[:]), secretTTL).Err(); err != nil {
		return nil, fmt.Errorf("day secret %s: %w", day, err)
	}
	v, err := c.rdb.Get(ctx, secretKey(day)).Result()
	if err != nil {
		return nil, fmt.Errorf("day secret %s: %w", day, err)
	}
	s, err = hex.DecodeString(v)
	if err != nil || len(s) != len(b) {
		return nil, fmt.Errorf("day secret %s: not 32 bytes in hex", day)
	}
	c.secretsMu.Lock()
	if len(c.secrets) > 4 {
		clear(c.secrets) // only today's and yesterday's are in use
	}
	c.secrets[day] = s
	c.secretsMu.Unlock()
	return s, nil
}

func checkDay(day string) error {
	if len(day) != 8 {
		return fmt.Errorf("day %q is not YYYYMMDD", day)
	}
	if _, err := time.Parse("20060102", day); err != nil {
		return fmt.Errorf("day %q is not YYYYMMDD", day)
	}
	return nil
}

// checkVisit checks a visit as if it came from outside: a valid id and day, a visitor of 16 hex digits,
// and a value in each dimension of at most 253 bytes.
func checkVisit(v stats.Visit) error {
	if err := checkID(v.ID); err != nil {
		return err
	}
	if err := checkDay(v.Day); err != nil {
		return fmt.Errorf("%s: %w", v.ID, err)
	}
	if v.Clicks < 0 {
		return fmt.Errorf("%s: negative clicks", v.ID)
	}
	if len(v.Visitor) != 16 {
		return fmt.Errorf("%s: visitor %q is not 16 hex digits", v.ID, v.Visitor)
	}
	if _, err := hex.DecodeString(v.Visitor); err != nil {
		return fmt.Errorf("%s: visitor %q is not 16 hex digits", v.ID, v.Visitor)
	}
	for i, val := range v.Values {
		if val == "" || len(val) > 253 {
			return fmt.Errorf("%s: %s value %q", v.ID, stats.Dimensions[i], val)
		}
	}
	return nil
}

// linkDay groups the visits of one link on one day.
type linkDay struct{ id, day string }

// AddVisits counts each visit whose visitor was not counted on its link within the dedup window, in the
// link's totals and day (clicks, scans), its day's distinct visitors and dimensions, and then in the
// day's counts across all links. A visit whose link has no record is skipped. Visits are checked first:
// a bad one makes it return an error having written nothing. Applying a batch again counts none of its
// visits twice, since their visitors were counted; but a failure between the links' writes and the
// counts across links leaves the latter short of that batch.
func (c *Counters) AddVisits(ctx context.Context, visits []stats.Visit) error {
	groups := make(map[linkDay][]int)
	var order []linkDay
	for i, v := range visits {
		if err := checkVisit(v); err != nil {
			return fmt.Errorf("add visits: %w", err)
		}
		k := linkDay{v.ID, v.Day}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], i)
	}
	if len(order) == 0 {
		return nil
	}
	for _, s := range []*redis.Script{addVisitsScript, addAllScript} {
		if err := s.Load(ctx, c.rdb).Err(); err != nil {
			return fmt.Errorf("add visits: load script: %w", err)
		}
	}
	window, ttl := c.window.Milliseconds(), c.retention.Milliseconds()
	cmds := make([]*redis.Cmd, len(order))
	_, err := c.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for gi, k := range order {
			idx := groups[k]
			keys := append([]string{recordKey(k.id), counterKey(k.id)}, linkDayKeys(k.id, k.day)...)
			args := make([]any, 0, 3+len(idx)*(3+stats.NumDims))
			args = append(args, window, ttl, c.top)
			for _, i := range idx {
				v := visits[i]
				keys = append(keys, visitorKey(k.id, v.Visitor))
				kind := "0"
				switch {
				case v.Scan():
					kind = "1"
				case v.Bio():
					kind = "2"
				}
				args = append(args, v.Visitor, kind, max(v.Clicks, 1))
				for _, val := range v.Values {
					args = append(args, val)
				}
			}
			cmds[gi] = addVisitsScript.EvalSha(ctx, p, keys, args...)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("add visits: %w", err)
	}
	// What was counted, per day, for the counts across links.
	type dayAll struct {
		clicks, scans int64
		visitors      []string
		dims          [stats.NumDims]map[string]int64
	}
	all := make(map[string]*dayAll)
	var days []string
	for gi, k := range order {
		res, err := cmds[gi].Int64Slice()
		if err != nil && !errors.Is(err, redis.Nil) {
			return fmt.Errorf("add visits %s: %w", k.id, err)
		}
		for j, counted := range res {
			if counted < 1 || j >= len(groups[k]) {
				continue
			}
			v := visits[groups[k][j]]
			d, ok := all[k.day]
			if !ok {
				d = &dayAll{}
				for i := range d.dims {
					d.dims[i] = make(map[string]int64)
				}
				all[k.day] = d
				days = append(days, k.day)
			}
			d.clicks += counted
			if v.Scan() {
				d.scans += counted
			}
			d.visitors = append(d.visitors, v.Visitor)
			for i, val := range v.Values {
				d.dims[i][val] += counted
			}
		}
	}
	if len(days) == 0 {
		return nil
	}
	_, err = c.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, day := range days {
			d := all[day]
			args := []any{ttl, c.top, d.clicks, d.scans, len(d.visitors)}
			for _, v := range d.visitors {
				args = append(args, v)
			}
			for _, m := range d.dims {
				args = append(args, len(m))
				for val, n := range m {
					args = append(args, val, n)
				}
			}
			addAllScript.EvalSha(ctx, p, allDayKeys(day), args...)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("add visits across links: %w", err)
	}
	return nil
}

// Report returns what was counted on the link id (all links when id is "") on each UTC day from from to
// to, both included: at most MaxReportDays days. Each dimension lists at most top values, most clicks
// first, and "other" for the rest; top <= 0 lists all the store keeps. Values read back are checked.
func (c *Counters) Report(ctx context.Context, id string, from, to time.Time, top int) (stats.Report, error) {
	if id != "" {
		if err := checkID(id); err != nil {
			return stats.Report{}, fmt.Errorf("report: %w", err)
		}
	}
	first := time.Date(from.Year(), from.Month(), from.Day(), 0, 0, 0, 0, time.UTC)
	last := time.Date(to.Year(), to.Month(), to.Day(), 0, 0, 0, 0, time.UTC)
	n := int(last.Sub(first)/(24*time.Hour)) + 1
	if n < 1 || n > MaxReportDays {
		return stats.Report{}, fmt.Errorf("report: %d days, want 1 to %d", n, MaxReportDays)
	}
	type dayCmds struct {
		totals   *redis.SliceCmd
		visitors *redis.IntCmd
		dims     [stats.NumDims]*redis.MapStringStringCmd
	}
	got := make([]dayCmds, n)
	_, err := c.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i := range n {
			day := first.AddDate(0, 0, i).Format("20060102")
			var keys []string
			if id == "" {
				keys = allDayKeys(day)
			} else {
				keys = linkDayKeys(id, day)
			}
			got[i].totals = p.HMGet(ctx, keys[0], fieldClicks, fieldScans, fieldBio)
			got[i].visitors = p.PFCount(ctx, keys[1])
			for d := range stats.NumDims {
				got[i].dims[d] = p.HGetAll(ctx, keys[2+d])
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return stats.Report{}, fmt.Errorf("report %s: %w", id, err)
	}
	var r stats.Report
	var sums [stats.NumDims]map[string]int64
	for d := range sums {
		sums[d] = make(map[string]int64)
	}
	for _, g := range got {
		clicks, scans, _, err := parseCounts(g.totals)
		if err != nil {
			return stats.Report{}, fmt.Errorf("report %s: %w", id, err)
		}
		r.Clicks += clicks
		r.Scans += scans
		r.Visitors += g.visitors.Val()
		for d := range stats.NumDims {
			for val, s := range g.dims[d].Val() {
				n, err := strconv.ParseInt(s, 10, 64)
				if err != nil || n < 0 || val == "" || len(val) > 253 {
					return stats.Report{}, fmt.Errorf("report %s: %s value %q = %q", id, stats.Dimensions[d], val, s)
				}
				sums[d][val] += n
			}
		}
	}
	for d := range stats.NumDims {
		r.Dims[d] = stats.Top(sums[d], top)
	}
	return r, nil
}
