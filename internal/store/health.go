package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redirector/redirector/internal/link"
)

// A link's health lives in its record hash (so the record owns it, and Retarget drops it with the old
// target): these fields, and fieldDivert. Product fields keep the product last known, also once it is gone.
const (
	fieldHealthState = "h_state"
	fieldHealthSeen  = "h_seen" // unix ms
	fieldProdTitle   = "p_title"
	fieldProdImage   = "p_image"
	fieldProdPrice   = "p_price"
	fieldProdCur     = "p_cur"
	fieldProdComm    = "p_comm"
	fieldProdStore   = "p_store"
)

var healthFields = []string{fieldHealthState, fieldHealthSeen, fieldProdTitle, fieldProdImage, fieldProdPrice,
	fieldProdCur, fieldProdComm, fieldProdStore}

const (
	healthLeaseKey = "rd:v1:health:lease"
	healthLastKey  = "rd:v1:health:last"
	healthLastTTL  = 30 * 24 * time.Hour
)

// setHealthScript writes a live record's health if it still leads to ARGV[1] with the plan B ARGV[11]
// and ARGV[12] (fallback, fallback_when; "" for none): state ARGV[2], seen ARGV[3], divert ARGV[4]
// (dropped when empty), and, when ARGV[5] (the title) is not empty, the product ARGV[5..10]. A new state
// is pushed onto the history KEYS[2] ("<seen ms> <from> <to>", from "unknown" when none was), which keeps
// the newest ARGV[13] entries. Returns {previous state, previous divert}, or false (a nil reply) when
// nothing was written.
var setHealthScript = redis.NewScript(`
local cur = redis.call('HMGET', KEYS[1], 'target', 'deleted', 'h_state', 'divert', 'fallback', 'fallback_when')
if not cur[1] or cur[2] == '1' or cur[1] ~= ARGV[1] or (cur[5] or '') ~= ARGV[11] or (cur[6] or '') ~= ARGV[12] then
  return false
end
redis.call('HSET', KEYS[1], 'h_state', ARGV[2], 'h_seen', ARGV[3])
local from = cur[3] or 'unknown'
if from ~= ARGV[2] then
  redis.call('LPUSH', KEYS[2], ARGV[3] .. ' ' .. from .. ' ' .. ARGV[2])
  redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[13]) - 1)
end
if ARGV[4] ~= '' then
  redis.call('HSET', KEYS[1], 'divert', ARGV[4])
else
  redis.call('HDEL', KEYS[1], 'divert')
end
if ARGV[5] ~= '' then
  redis.call('HSET', KEYS[1], 'p_title', ARGV[5], 'p_image', ARGV[6], 'p_price', ARGV[7], 'p_cur', ARGV[8], 'p_comm', ARGV[9], 'p_store', ARGV[10])
end
return {cur[3] or '', cur[4] or ''}
`)

// SetHealth records h as the health of the live link rec.ID while it still leads to rec.Target with rec's
// plan B (Fallback, FallbackWhen: the record divert was decided from), with divert as where its clicks go
// instead (empty: to its target). A product with an empty Title leaves the product last known as it is.
// written is false, and nothing is written, when the link is missing, deleted, now leads elsewhere or has
// another plan B (a PATCH won the race: it decided the diversion itself); diverted says whether divert
// differs from the one stored before.
func (r *Records) SetHealth(ctx context.Context, rec link.Record, h link.Health, divert string) (written, diverted bool, err error) {
	_, written, diverted, err = r.SetHealthFrom(ctx, rec, h, divert)
	return written, diverted, err
}

// SetHealthFrom is SetHealth that also returns the state stored before ("" when none was), so that a
// change of state can be told (the link.health_changed webhook).
func (r *Records) SetHealthFrom(ctx context.Context, rec link.Record, h link.Health, divert string) (prev link.HealthState, written, diverted bool, err error) {
	id, target := rec.ID, rec.Target
	if err := checkRecord(id, target); err != nil {
		return "", false, false, fmt.Errorf("set health: %w", err)
	}
	p := h.Product
	res, err := setHealthScript.Run(ctx, r.rdb, []string{recordKey(id), healthHistoryKey(id)}, target, string(h.State),
		h.Seen.UnixMilli(), divert, p.Title, p.Image, p.Price, p.Currency, p.CommissionRate, p.Store,
		rec.Fallback, rec.FallbackWhen, HealthHistoryLen).StringSlice()
	if errors.Is(err, redis.Nil) {
		return "", false, false, nil
	}
	if err != nil {
		return "", false, false, fmt.Errorf("set health %s: %w", id, err)
	}
	if len(res) != 2 {
		return "", false, false, fmt.Errorf("set health %s: script answered %d values", id, len(res))
	}
	return link.HealthState(res[0]), true, res[1] != divert, nil
}

// HealthHistoryLen is how many changes of state a link's health history keeps (the newest).
const HealthHistoryLen = 20

// healthHistoryKey names the list of id's health changes, newest first: one of the keys its record owns
// (same hash tag), written by SetHealthFrom in the script that writes the state, and deleted by Delete,
// by a new target (Retarget, Patch: the history of the old target says nothing of the new one) and by
// a Put or revival that replaces the record.
func healthHistoryKey(id string) string { return recordKeyPrefix + id + "}:hh" }

// HealthChange is one change of a link's health state.
type HealthChange struct {
	At       time.Time // when the check that found it finished (millisecond precision, UTC)
	From, To link.HealthState
}

// HealthHistory returns the last HealthHistoryLen changes of id's health state, newest first; none for
// a link never checked, deleted, or missing. An entry it cannot read is skipped.
func (r *Records) HealthHistory(ctx context.Context, id string) ([]HealthChange, error) {
	if err := checkID(id); err != nil {
		return nil, fmt.Errorf("health history: %w", err)
	}
	vals, err := r.rdb.LRange(ctx, healthHistoryKey(id), 0, HealthHistoryLen-1).Result()
	if err != nil {
		return nil, fmt.Errorf("health history %s: %w", id, err)
	}
	out := make([]HealthChange, 0, len(vals))
	for _, v := range vals {
		parts := strings.Fields(v)
		if len(parts) != 3 {
			continue
		}
		at, err := parseMs(parts[0])
		from, okFrom := link.ParseHealthState(parts[1])
		to, okTo := link.ParseHealthState(parts[2])
		if err != nil || !okFrom || !okTo {
			continue
		}
		out = append(out, HealthChange{At: at, From: from, To: to})
	}
	return out, nil
}

// Health returns the health of each id, in order: the zero Health (unknown, never seen) for an id whose
// record has none, or that has no record.
func (r *Records) Health(ctx context.Context, ids []string) ([]link.Health, error) {
	out := make([]link.Health, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	cmds, err := r.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, id := range ids {
			p.HMGet(ctx, recordKey(id), healthFields...)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("health: %w", err)
	}
	for i, c := range cmds {
		if out[i], err = parseHealth(c.(*redis.SliceCmd).Val()); err != nil {
			return nil, fmt.Errorf("health %s: %w", ids[i], err)
		}
	}
	return out, nil
}

// parseHealth reads the reply of HMGET healthFields.
func parseHealth(v []any) (link.Health, error) {
	if len(v) != len(healthFields) {
		return link.Health{}, fmt.Errorf("health: %d values", len(v))
	}
	str := func(j int) string { s, _ := v[j].(string); return s }
	h := link.Health{State: link.HealthUnknown}
	if st, ok := link.ParseHealthState(str(0)); ok {
		h.State = st
	}
	var err error
	if h.Seen, err = parseMs(v[1]); err != nil {
		return link.Health{}, fmt.Errorf("seen: %w", err)
	}
	h.Product = link.Product{Title: str(2), Image: str(3), Price: str(4), Currency: str(5), CommissionRate: str(6), Store: str(7)}
	return h, nil
}

// releaseLeaseScript deletes KEYS[1] if it holds ARGV[1]; renewLeaseScript extends it by ARGV[2] ms.
var (
	releaseLeaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`)
	renewLeaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
`)
)

// HealthLease takes the health check's lease for owner for ttl, or extends it when owner holds it
// already. ok is false when another owner holds it: only one replica checks at a time.
func (r *Records) HealthLease(ctx context.Context, owner string, ttl time.Duration) (ok bool, err error) {
	ok, err = r.rdb.SetNX(ctx, healthLeaseKey, owner, ttl).Result()
	if err != nil {
		return false, fmt.Errorf("health lease: %w", err)
	}
	if ok {
		return true, nil
	}
	n, err := renewLeaseScript.Run(ctx, r.rdb, []string{healthLeaseKey}, owner, ttl.Milliseconds()).Int()
	if err != nil {
		return false, fmt.Errorf("health lease: %w", err)
	}
	return n == 1, nil
}

// ReleaseHealthLease gives the lease up if owner holds it.
func (r *Records) ReleaseHealthLease(ctx context.Context, owner string) error {
	if err := releaseLeaseScript.Run(ctx, r.rdb, []string{healthLeaseKey}, owner).Err(); err != nil {
		return fmt.Errorf("release health lease: %w", err)
	}
	return nil
}

// HealthCheck is what a finished health check found.
type HealthCheck struct {
	At     time.Time                // when it finished (millisecond precision, UTC when read)
	Counts map[link.HealthState]int // live links per state
}

// SetLastHealthCheck records c as the last health check.
func (r *Records) SetLastHealthCheck(ctx context.Context, c HealthCheck) error {
	vals := []any{"at", c.At.UnixMilli()}
	for _, st := range link.HealthStates {
		vals = append(vals, string(st), c.Counts[st])
	}
	_, err := r.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, healthLastKey)
		p.HSet(ctx, healthLastKey, vals...)
		p.Expire(ctx, healthLastKey, healthLastTTL)
		return nil
	})
	if err != nil {
		return fmt.Errorf("set last health check: %w", err)
	}
	return nil
}

// LastHealthCheck returns the last health check; ok is false when none is recorded.
func (r *Records) LastHealthCheck(ctx context.Context) (c HealthCheck, ok bool, err error) {
	m, err := r.rdb.HGetAll(ctx, healthLastKey).Result()
	if err != nil {
		return HealthCheck{}, false, fmt.Errorf("last health check: %w", err)
	}
	at, has := m["at"]
	if !has {
		return HealthCheck{}, false, nil
	}
	if c.At, err = parseMs(at); err != nil {
		return HealthCheck{}, false, fmt.Errorf("last health check: at: %w", err)
	}
	c.Counts = make(map[link.HealthState]int, len(link.HealthStates))
	for _, st := range link.HealthStates {
		n, _ := strconv.Atoi(m[string(st)])
		c.Counts[st] = n
	}
	return c, true, nil
}
