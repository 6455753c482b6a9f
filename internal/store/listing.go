package store

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redirector/redirector/internal/link"
)

// fieldLast is the totals' field holding the last click's time (unix ms), raised by AddClicks.
const fieldLast = "last"

// listingBatch bounds the records Listing reads in one pipeline.
const listingBatch = 1000

// Listed is a live record with what a list of links shows and sorts by.
type Listed struct {
	Record             link.Record
	Health             link.Health
	Clicks, Scans, Bio int64
	// LastClick is when the link was last clicked (as its clicks were written, within CLICK_FLUSH);
	// zero when never, or only before last clicks were kept.
	LastClick time.Time
}

// Listing returns every live record with its health and click totals, newest first (by creation, then
// id), read in one pipelined round trip per listingBatch records after the list's. Members of the list
// whose record is missing or deleted are skipped. Its cost grows with the number of live links: it is
// meant for the admin's list, which searches and sorts them all.
func (r *Records) Listing(ctx context.Context) ([]Listed, error) {
	ids, err := r.rdb.ZRevRange(ctx, linkListKey, 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("listing: %w", err)
	}
	fields := append(append([]string{}, recordFields...), healthFields...)
	out := make([]Listed, 0, len(ids))
	for start := 0; start < len(ids); start += listingBatch {
		batch := ids[start:min(start+listingBatch, len(ids))]
		cmds, err := r.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, id := range batch {
				if checkID(id) != nil {
					continue
				}
				p.HMGet(ctx, recordKey(id), fields...)
				p.HMGet(ctx, counterKey(id), fieldClicks, fieldScans, fieldBio, fieldLast)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("listing: %w", err)
		}
		for i := 0; i+1 < len(cmds); i += 2 {
			vals := cmds[i].(*redis.SliceCmd).Val()
			id := cmds[i].Args()[1].(string)[len(recordKeyPrefix):]
			id = id[:len(id)-len(recordKeySuffix)]
			rec, ok, err := parseRecord(id, vals[:len(recordFields)])
			if err != nil {
				return nil, fmt.Errorf("listing: %s: %w", id, err)
			}
			if !ok || rec.Deleted {
				continue
			}
			l := Listed{Record: rec}
			if l.Health, err = parseHealth(vals[len(recordFields):]); err != nil {
				return nil, fmt.Errorf("listing: %s: %w", id, err)
			}
			counts := cmds[i+1].(*redis.SliceCmd).Val()
			if l.Clicks, l.Scans, l.Bio, err = parseCounts(redis.NewSliceResult(counts[:3], nil)); err != nil {
				return nil, fmt.Errorf("listing: %s: %w", id, err)
			}
			if l.LastClick, err = parseMs(counts[3]); err != nil {
				return nil, fmt.Errorf("listing: %s: last click: %w", id, err)
			}
			out = append(out, l)
		}
	}
	return out, nil
}

// Visitors returns, for each id in order, its distinct visitors over the last days UTC days up to
// now's (one PFCOUNT of the days' sets per id: a visitor is named anew each day, so this is about the
// sum of the days' counts), in one pipelined round trip. days is from 1 to 366.
func (c *Counters) Visitors(ctx context.Context, ids []string, days int, now time.Time) ([]int64, error) {
	if days < 1 || days > 366 {
		return nil, fmt.Errorf("visitors: days %d not in 1..366", days)
	}
	out := make([]int64, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	today := now.UTC()
	first := time.Date(today.Year(), today.Month(), today.Day()-days+1, 0, 0, 0, 0, time.UTC)
	dayNames := make([]string, days)
	for i := range days {
		dayNames[i] = first.AddDate(0, 0, i).Format("20060102")
	}
	cmds := make([]*redis.IntCmd, len(ids))
	_, err := c.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		keys := make([]string, days)
		for i, id := range ids {
			if checkID(id) != nil {
				continue
			}
			for j, d := range dayNames {
				keys[j] = visitorsKey(id, d)
			}
			cmds[i] = p.PFCount(ctx, keys...)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("visitors: %w", err)
	}
	for i, c := range cmds {
		if c != nil {
			out[i] = c.Val()
		}
	}
	return out, nil
}
