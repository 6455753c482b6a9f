package store

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redirector/redirector/internal/link"
)

// Keys of short-link records and their counters. Every key that belongs to one id carries the id as its
// hash tag ({id}), so the scripts that touch several of them stay on one Redis Cluster slot; the list and
// the target index are the only keys shared by all ids and are never touched in a script together with
// another key.
//
// The rule: every key the service writes has an owner or an expiry, so that no client input can make
// the store grow without bound. An owner is a record, and records are written only by an admin (the
// API, import); a deleted record stays as a tombstone and keeps what it owns.
//
//	rd:v1:{id}:rec          the record (hash: target, created, updated, deleted, channel, fallback,
//	                        fallback_when, divert, labels, and its health: h_state, h_seen, p_* the product last
//	                        known; see health.go); owns the keys below
//	rd:v1:{id}:hh           the link's last 20 health changes, newest first (list; see health.go); owned by
//	                        the record {id}: Delete, a new target (Retarget, Patch) and a Put or revival that
//	                        replaces the record delete it
//	rd:v1:{id}:n            click totals (hash); owned by the record {id}: AddClicks writes only while it exists
//	rd:v1:{id}:d:YYYYMMDD   one day's clicks (hash); expires the Counters' retention after its last write
//	rd:v1:{id}:w            the last click batch applied per writer (hash); expires 7 days after its last write
//	rd:v1:{id}:u:<visitor>  a visitor counted on the link (string "1"; visitor: 16 hex digits of a day's keyed
//	                        hash, never an address); expires CLICK_DEDUP_WINDOW after it was counted
//	rd:v1:{id}:v:YYYYMMDD   the day's distinct visitors (HyperLogLog); written only while the record exists,
//	                        expires the Counters' retention after its last write
//	rd:v1:{id}:s:YYYYMMDD:<dimension>  the day's clicks per value of country, referrer, device, os, browser or
//	                        source (hash of at most STATS_TOP values and "other"); like :v:
//	rd:v1:stats:{YYYYMMDD}:n, :v, :<dimension>  the day's clicks and scans, distinct visitors and dimensions
//	                        across all links, bounded like a link's; expire the retention after their last write
//	rd:v1:salt:YYYYMMDD     the day's visitor secret (32 random bytes in hex); expires 48 hours after written
//	rd:v1:links             the list of live records (sorted set); each member owned by the live record it
//	                        names (Delete and Put of a tombstone remove it; a crash can leave a member whose
//	                        record is missing or deleted, which readers skip)
//	rd:v1:tgt:<sha256/128>  the id made for a target (string); owned by that id's live record while it leads
//	                        to the target (Retarget, Delete and Put drop it; a failure between the two steps
//	                        can leave one, which IDForTarget ignores and SetTargetID takes over)
//	rd:v1:slug:<slug in lower case>  the id of the live link with that slug in any case (string); owned by
//	                        that record (Delete and Put of a tombstone drop it); expires 10 s after written
//	                        while its record is being created; one left by a crash names a record that is
//	                        missing or deleted, which FoldID ignores and CreateSlug takes over
//	rd:v1:link:<page>       an affiliate link (internal/cache); expires when it may no longer be served stale
//	rd:v1:link:c=<channel>|<page>  the same on a channel other than the default one (ALIEXPRESS_TRACKING_IDS)
//	rd:v1:order:<sub_order_id>  one synced order (internal/earnings; hash: rank, v); expires 400 days after
//	                        its last write
//	rd:v1:orders            the orders by paid time (sorted set); each member owned by its order key: trimmed
//	                        past the retention at every sync, skipped by readers once its order expired
//	rd:v1:{id}:orders       the orders attributed to the link id (set); owned by the record {id}
//	rd:v1:orders:sync       the order sync's window and cursor per status, and its last success (hash); one
//	                        key, owned by the sync
//	rd:v1:orders:lease      which replica syncs orders (string); expires 5 minutes after its last renewal
//	rd:v1:health:lease      the replica running the health check (string); expires (HealthLease's ttl)
//	rd:v1:health:last       the last health check's time and counts per state (hash); expires 30 days
//	                        after its last write
//	rd:v1:apikeys           the API keys (hash; internal/apikey): k:<id> a key's record (its SHA-256, never the
//	                        key), n:<name> its id, u:<id> its last use; owns its fields, written by admins
//	                        alone; revoking a key deletes its fields
//
// Bio pages (internal/bio, whose store.go says more) are owners like records: written only by an admin (the
// API, import). Their keys carry the lower-case handle as hash tag.
//
//	rd:v1:page:{handle}             a bio page (JSON string); owns the two keys below
//	rd:v1:page:{handle}:n           its views (hash); written only while the page exists, deleted with it
//	rd:v1:page:{handle}:d:YYYYMMDD  one day's views (hash); expires the Counters' retention after its last write
//	rd:v1:page:{handle}:u:<visitor>  a visitor counted on the page (string "1"; visitor as in rd:v1:{id}:u:);
//	                                written only while the page exists, expires CLICK_DEDUP_WINDOW after it was counted
//	rd:v1:pages                     the list of pages (sorted set); each member owned by the page it names
//
// The field "bio" of rd:v1:{id}:n and rd:v1:{id}:d:YYYYMMDD counts the clicks that came from a bio page
// (/{id}?src=bio): a field of keys that exist already, bounded like clicks and scans.
//
// The embedded store without Redis (durable.go) keeps these keys in its file, except rd:v1:links, which it
// rebuilds at start from the live records.
//
// Nothing else is written: the invalidation bus (internal/invalidate) is pub/sub and leaves no key, the share-link
// and preview caches live in process, and the record mirror (internal/mirror) only reads (Batches, Get, Exist)
// and keeps its copy in a file of its own.
const (
	recordKeyPrefix = "rd:v1:{"
	recordKeySuffix = "}:rec"
	// linkListKey is the sorted set of live short links: score the creation time in unix ms, member the id.
	linkListKey = "rd:v1:links"
	// targetIndexPrefix + a hash of a target holds the id of the short link created for that target.
	targetIndexPrefix = "rd:v1:tgt:"
	// maxIDLen bounds an id; ids are slugs, far shorter.
	maxIDLen = 256
)

// Record fields in the record hash.
const (
	fieldTarget  = "target"
	fieldCreated = "created" // unix ms
	fieldUpdated = "updated" // unix ms
	fieldDeleted = "deleted" // "1" for a tombstone, absent otherwise
	fieldChannel = "channel" // the link's tracking id; absent for the default channel
	// The plan B and where clicks are diverted (link.Record's Fallback, FallbackWhen, Divert); absent when empty.
	fieldFallback     = "fallback"
	fieldFallbackWhen = "fallback_when"
	fieldDivert       = "divert"
	fieldLabels       = "labels" // link.Labels.Encode of the record's labels; absent when none
)

// recordFields are the fields a record is read with (parseRecord), in its order.
var recordFields = []string{fieldTarget, fieldCreated, fieldUpdated, fieldDeleted, fieldFallback, fieldFallbackWhen, fieldDivert, fieldChannel, fieldLabels}

// List paging bounds.
const (
	// DefaultListLimit is the page size List uses when asked for limit <= 0.
	DefaultListLimit = 50
	// MaxListLimit is the largest page List returns.
	MaxListLimit = 1000
)

// Records keeps short-link records in Redis. Its methods are safe for concurrent use.
//
// Each record is a hash at rd:v1:{<id>}:rec. Live records are also listed in the sorted set rd:v1:links
// (score: creation time in unix ms). The list is written outside the record's scripts, in an order that
// can leave, after a crash or a race, a member whose record is missing or deleted, never a live record
// that is not listed after Create returns; readers skip such members.
type Records struct {
	rdb redis.UniversalClient
}

// NewRecords returns Records stored in rdb.
func NewRecords(rdb redis.UniversalClient) *Records {
	return &Records{rdb: rdb}
}

// createRecordScript writes a record unless a live one has its key. A tombstone is overwritten (the
// deleted link is revived with its new target) when ARGV[4] is "1", and kept otherwise. ARGV[5] and ARGV[6]
// are the plan B and when it applies (none when ARGV[5] is empty), ARGV[7] the channel ("" or absent: the
// default one), ARGV[8] the labels (link.Labels.Encode; "" or absent: none). Returns 1 when
// written, 0 when a record that stays has the key.
var createRecordScript = redis.NewScript(`
local cur = redis.call('HMGET', KEYS[1], 'target', 'deleted')
if cur[1] and (cur[2] ~= '1' or ARGV[4] ~= '1') then
  return 0
end
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('HSET', KEYS[1], 'target', ARGV[1], 'created', ARGV[2], 'updated', ARGV[3])
if ARGV[5] ~= '' then
  redis.call('HSET', KEYS[1], 'fallback', ARGV[5], 'fallback_when', ARGV[6])
end
if ARGV[7] and ARGV[7] ~= '' then
  redis.call('HSET', KEYS[1], 'channel', ARGV[7])
end
if ARGV[8] and ARGV[8] ~= '' then
  redis.call('HSET', KEYS[1], 'labels', ARGV[8])
end
return 1
`)

// retargetRecordScript points a live record at ARGV[1] and sets updated to ARGV[2], dropping the health
// found for the old target (healthFields) and the diversion it caused. Returns the record's created and
// its target before and its plan B (fallback, fallback_when), or false (a nil reply) when there is no
// live record. The health history KEYS[2] goes with the old target's health.
var retargetRecordScript = redis.NewScript(`
local cur = redis.call('HMGET', KEYS[1], 'target', 'created', 'deleted', 'fallback', 'fallback_when')
if not cur[1] or cur[3] == '1' then
  return false
end
redis.call('HSET', KEYS[1], 'target', ARGV[1], 'updated', ARGV[2])
if cur[1] ~= ARGV[1] then
  redis.call('HDEL', KEYS[1], 'divert', 'h_state', 'h_seen', 'p_title', 'p_image', 'p_price', 'p_cur', 'p_comm', 'p_store')
  redis.call('DEL', KEYS[2])
end
return {cur[2] or '0', cur[1], cur[4] or '', cur[5] or ''}
`)

// deleteRecordScript turns a live record into a tombstone and deletes its health history KEYS[2].
// Returns its target, or false (a nil reply) when there is no live record.
var deleteRecordScript = redis.NewScript(`
local cur = redis.call('HMGET', KEYS[1], 'target', 'deleted')
if not cur[1] or cur[2] == '1' then
  return false
end
redis.call('HSET', KEYS[1], 'deleted', '1', 'updated', ARGV[1])
redis.call('DEL', KEYS[2])
return cur[1]
`)

// putRecordScript replaces the record when it is absent or older (by updated) than the one given, and
// returns the stored record's created and deleted flag ("1" or "") afterwards, the target of the
// live record it replaced ("" when it replaced none), and what it did ("created", "updated" or "").
var putRecordScript = redis.NewScript(`
local cur = redis.call('HMGET', KEYS[1], 'updated', 'target', 'deleted')
local replaced = ''
local change = ''
if not cur[1] or tonumber(ARGV[3]) > (tonumber(cur[1]) or 0) then
  change = cur[1] and 'updated' or 'created'
  if cur[2] and cur[3] ~= '1' then
    replaced = cur[2]
  end
  redis.call('DEL', KEYS[1], KEYS[2])
  redis.call('HSET', KEYS[1], 'target', ARGV[1], 'created', ARGV[2], 'updated', ARGV[3])
  if ARGV[5] ~= '' then
    redis.call('HSET', KEYS[1], 'fallback', ARGV[5], 'fallback_when', ARGV[6])
  end
  if ARGV[4] == '1' then
    redis.call('HSET', KEYS[1], 'deleted', '1')
  end
  if ARGV[7] and ARGV[7] ~= '' then
    redis.call('HSET', KEYS[1], 'channel', ARGV[7])
  end
  if ARGV[8] and ARGV[8] ~= '' then
    redis.call('HSET', KEYS[1], 'labels', ARGV[8])
  end
end
local v = redis.call('HMGET', KEYS[1], 'created', 'deleted')
return {v[1] or '0', v[2] or '', replaced, change}
`)

// dropTargetIndexScript deletes KEYS[1] if it holds ARGV[1]. Returns 1 when deleted.
var dropTargetIndexScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`)

// swapTargetIndexScript sets KEYS[1] to ARGV[2] if it still holds ARGV[1]. Returns 1 when swapped.
var swapTargetIndexScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2])
  return 1
end
return 0
`)

// releaseTargetIndexScript deletes KEYS[1] if it still holds ARGV[1]. Returns 1 when deleted.
var releaseTargetIndexScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`)

func recordKey(id string) string { return recordKeyPrefix + id + recordKeySuffix }

// targetIndexKey names the index entry of a target by the first 128 bits of its SHA-256, so that long
// URLs make short keys; a collision is harmless because IDForTarget checks the record's target.
func targetIndexKey(target string) string {
	sum := sha256.Sum256([]byte(target))
	return targetIndexPrefix + hex.EncodeToString(sum[:16])
}

// checkID rejects ids that cannot be stored: empty, too long, or carrying the hash-tag braces that would
// split an id's keys over several cluster slots.
func checkID(id string) error {
	switch {
	case id == "":
		return errors.New("empty id")
	case len(id) > maxIDLen:
		return fmt.Errorf("id longer than %d bytes", maxIDLen)
	case strings.ContainsAny(id, "{}"):
		return fmt.Errorf("id %q contains a brace", id)
	}
	return nil
}

func checkRecord(id, target string) error {
	if err := checkID(id); err != nil {
		return err
	}
	if target == "" {
		return errors.New("empty target")
	}
	return nil
}

// Create stores a new record. It returns an error wrapping link.ErrExists when a live record already has
// rec.ID; exactly one of several concurrent Creates of one id succeeds. A deleted record (tombstone) with
// the id is overwritten: re-creating a deleted link revives it with the new target and times (its click
// counters, kept apart, carry on from where they were). A zero Created means now; a zero Updated means
// Created. Deleted is ignored. An empty id or target is an error and nothing is written.
func (r *Records) Create(ctx context.Context, rec link.Record) error {
	return r.create(ctx, rec, true)
}

// create is Create; revive says whether a tombstone with rec.ID is overwritten (else: ErrExists).
func (r *Records) create(ctx context.Context, rec link.Record, revive bool) error {
	if err := checkRecord(rec.ID, rec.Target); err != nil {
		return fmt.Errorf("create record: %w", err)
	}
	if rec.Created.IsZero() {
		rec.Created = time.Now()
	}
	if rec.Updated.IsZero() {
		rec.Updated = rec.Created
	}
	created := rec.Created.UnixMilli()
	// List the id before the record exists, so that a crash between the two steps leaves at worst a
	// listed id without a record, which readers skip, and never a live record missing from the list.
	// NX: a live record's member keeps its score if this Create loses.
	if err := r.rdb.ZAddNX(ctx, linkListKey, redis.Z{Score: float64(created), Member: rec.ID}).Err(); err != nil {
		return fmt.Errorf("create %s: list: %w", rec.ID, err)
	}
	reviveArg := "0"
	if revive {
		reviveArg = "1"
	}
	ok, err := createRecordScript.Run(ctx, r.rdb, []string{recordKey(rec.ID), healthHistoryKey(rec.ID)},
		rec.Target, created, rec.Updated.UnixMilli(), reviveArg, rec.Fallback, rec.FallbackWhen, rec.Channel, rec.Labels.Encode()).Int()
	if err != nil {
		return fmt.Errorf("create %s: %w", rec.ID, err)
	}
	if ok == 0 {
		return fmt.Errorf("create %s: %w", rec.ID, link.ErrExists)
	}
	// The winner sets its own score: the NX above may have kept a losing racer's, and a Delete racing
	// with this revival may have removed the member meanwhile.
	if err := r.rdb.ZAdd(ctx, linkListKey, redis.Z{Score: float64(created), Member: rec.ID}).Err(); err != nil {
		return fmt.Errorf("create %s: list: %w", rec.ID, err)
	}
	return nil
}

// Get returns the record with the id. ok is false when there is none, as for an id that no record can
// have (too long, or with a brace); a deleted record is returned with Deleted set. An empty id is an error.
func (r *Records) Get(ctx context.Context, id string) (rec link.Record, ok bool, err error) {
	if id == "" {
		return link.Record{}, false, errors.New("get record: empty id")
	}
	if checkID(id) != nil {
		return link.Record{}, false, nil
	}
	vals, err := r.rdb.HMGet(ctx, recordKey(id), recordFields...).Result()
	if err != nil {
		return link.Record{}, false, fmt.Errorf("get %s: %w", id, err)
	}
	rec, ok, err = parseRecord(id, vals)
	if err != nil {
		return link.Record{}, false, fmt.Errorf("get %s: %w", id, err)
	}
	return rec, ok, nil
}

// parseRecord reads the reply of HMGET recordFields. ok is false when the record has no target, i.e. does
// not exist. A channel is returned as stored: whoever uses it checks it against the configured channels.
func parseRecord(id string, vals []any) (link.Record, bool, error) {
	if len(vals) != len(recordFields) || vals[0] == nil {
		return link.Record{}, false, nil
	}
	rec := link.Record{ID: id}
	var ok bool
	if rec.Target, ok = vals[0].(string); !ok {
		return link.Record{}, false, fmt.Errorf("record target is %T", vals[0])
	}
	var err error
	if rec.Created, err = parseMs(vals[1]); err != nil {
		return link.Record{}, false, fmt.Errorf("record created: %w", err)
	}
	if rec.Updated, err = parseMs(vals[2]); err != nil {
		return link.Record{}, false, fmt.Errorf("record updated: %w", err)
	}
	rec.Deleted = vals[3] == "1"
	rec.Fallback, _ = vals[4].(string)
	rec.FallbackWhen, _ = vals[5].(string)
	rec.Divert, _ = vals[6].(string)
	rec.Channel, _ = vals[7].(string)
	if s, _ := vals[8].(string); s != "" {
		rec.Labels = link.ParseLabels(s)
	}
	return rec, true, nil
}

// parseMs reads a unix-ms field; a missing one is the zero time.
func parseMs(v any) (time.Time, error) {
	if v == nil {
		return time.Time{}, nil
	}
	s, ok := v.(string)
	if !ok {
		return time.Time{}, fmt.Errorf("got %T", v)
	}
	ms, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, err
	}
	return time.UnixMilli(ms).UTC(), nil
}

// Retarget points the live record with the id at target, atomically, and returns the record as stored.
// It returns an error wrapping link.ErrNotFound when the record is missing or deleted. The target index entry
// that named the id for its old target is dropped afterwards (see dropTargetID).
func (r *Records) Retarget(ctx context.Context, id, target string, now time.Time) (link.Record, error) {
	if err := checkRecord(id, target); err != nil {
		return link.Record{}, fmt.Errorf("retarget record: %w", err)
	}
	res, err := retargetRecordScript.Run(ctx, r.rdb, []string{recordKey(id), healthHistoryKey(id)}, target, now.UnixMilli()).StringSlice()
	if errors.Is(err, redis.Nil) {
		return link.Record{}, fmt.Errorf("retarget %s: %w", id, link.ErrNotFound)
	}
	if err != nil {
		return link.Record{}, fmt.Errorf("retarget %s: %w", id, err)
	}
	if len(res) != 4 {
		return link.Record{}, fmt.Errorf("retarget %s: script answered %d values", id, len(res))
	}
	c, err := parseMs(res[0])
	if err != nil {
		return link.Record{}, fmt.Errorf("retarget %s: record created: %w", id, err)
	}
	if old := res[1]; old != target {
		r.dropTargetID(ctx, old, id)
	}
	return link.Record{ID: id, Target: target, Created: c, Updated: time.UnixMilli(now.UnixMilli()).UTC(),
		Fallback: res[2], FallbackWhen: res[3]}, nil
}

// dropTargetID removes target's index entry if it names id, once id's record no longer leads there, so
// that the entry does not outlive its owner. It is a second step after the record's change (the entry may
// be on another cluster slot): when it fails, the change stands, and the entry left names a record that
// does not lead to its target, which IDForTarget ignores and SetTargetID takes over.
func (r *Records) dropTargetID(ctx context.Context, target, id string) {
	if target == "" {
		return
	}
	_ = dropTargetIndexScript.Run(ctx, r.rdb, []string{targetIndexKey(target)}, id).Err()
}

// Delete turns the live record with the id into a tombstone: the record stays, marked deleted, so that
// Get tells a deleted link from one that never was (and keeps owning the link's click totals), the id
// leaves the list and its target's index entry is dropped (see dropTargetID). It returns an error
// wrapping link.ErrNotFound when the record is missing or already deleted.
func (r *Records) Delete(ctx context.Context, id string, now time.Time) error {
	if err := checkID(id); err != nil {
		return fmt.Errorf("delete record: %w", err)
	}
	target, err := deleteRecordScript.Run(ctx, r.rdb, []string{recordKey(id), healthHistoryKey(id)}, now.UnixMilli()).Text()
	if errors.Is(err, redis.Nil) {
		return fmt.Errorf("delete %s: %w", id, link.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("delete %s: %w", id, err)
	}
	r.dropTargetID(ctx, target, id)
	r.dropFold(ctx, id)
	// After the tombstone: if this fails, the list keeps a member whose record is deleted, which List skips.
	if err := r.rdb.ZRem(ctx, linkListKey, id).Err(); err != nil {
		return fmt.Errorf("delete %s: unlist: %w", id, err)
	}
	return nil
}

// List returns up to limit live records, newest first, from the position cursor names ("" for the
// start), and the cursor of the next page ("" when there are no more). limit <= 0 means
// DefaultListLimit; it is capped at MaxListLimit. A cursor is a position in the list, not an offset:
// links created meanwhile (which are newer) do not shift later pages, and none is returned twice.
// Deleted records are skipped. A cursor List did not make gives an error wrapping link.ErrBadCursor.
func (r *Records) List(ctx context.Context, cursor string, limit int) ([]link.Record, string, error) {
	if limit <= 0 {
		limit = DefaultListLimit
	}
	limit = min(limit, MaxListLimit)
	var pos listPos // the last member seen, when started
	if cursor != "" {
		var err error
		if pos, err = decodeCursor(cursor); err != nil {
			return nil, "", fmt.Errorf("list: %w", err)
		}
	}
	out := make([]link.Record, 0, limit)
	var last listPos // the position of out's last record
	batch := int64(limit + 1)
	for {
		hi := "+inf"
		if pos.started {
			hi = strconv.FormatInt(pos.ms, 10)
		}
		zs, err := r.rdb.ZRevRangeByScoreWithScores(ctx, linkListKey,
			&redis.ZRangeBy{Min: "-inf", Max: hi, Count: batch}).Result()
		if err != nil {
			return nil, "", fmt.Errorf("list: %w", err)
		}
		// Members with pos's score come in descending order; those not below pos.id were seen already.
		fresh := make([]listPos, 0, len(zs))
		for _, z := range zs {
			p := listPos{started: true, ms: int64(z.Score)}
			p.id, _ = z.Member.(string)
			if pos.started && p.ms == pos.ms && p.id >= pos.id {
				continue
			}
			fresh = append(fresh, p)
		}
		full := int64(len(zs)) == batch
		if len(fresh) == 0 {
			if !full {
				return out, "", nil
			}
			// A whole batch of members sharing pos's millisecond: look further.
			batch *= 2
			continue
		}
		cmds, err := r.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, f := range fresh {
				p.HMGet(ctx, recordKey(f.id), recordFields...)
			}
			return nil
		})
		if err != nil {
			return nil, "", fmt.Errorf("list: %w", err)
		}
		for i, f := range fresh {
			rec, ok, err := parseRecord(f.id, cmds[i].(*redis.SliceCmd).Val())
			if err != nil {
				return nil, "", fmt.Errorf("list: %s: %w", f.id, err)
			}
			if !ok || rec.Deleted {
				continue
			}
			if len(out) == limit {
				return out, last.encode(), nil
			}
			out = append(out, rec)
			last = f
		}
		pos = fresh[len(fresh)-1]
		if !full {
			return out, "", nil
		}
	}
}

// listPos is a position in the list: a member and its score.
type listPos struct {
	started bool
	ms      int64
	id      string
}

func (p listPos) encode() string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(p.ms, 10) + ":" + p.id))
}

func decodeCursor(s string) (listPos, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return listPos{}, link.ErrBadCursor
	}
	ms, id, ok := strings.Cut(string(b), ":")
	if !ok || checkID(id) != nil {
		return listPos{}, link.ErrBadCursor
	}
	n, err := strconv.ParseInt(ms, 10, 64)
	if err != nil {
		return listPos{}, link.ErrBadCursor
	}
	return listPos{started: true, ms: n, id: id}, nil
}

// IDForTarget returns the id of the live short link that SetTargetID recorded for target. ok is false
// when there is none, or when that link has since been deleted or pointed elsewhere.
func (r *Records) IDForTarget(ctx context.Context, target string) (id string, ok bool, err error) {
	if target == "" {
		return "", false, errors.New("id for target: empty target")
	}
	id, err = r.rdb.Get(ctx, targetIndexKey(target)).Result()
	if errors.Is(err, redis.Nil) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("id for target: %w", err)
	}
	if ok, err = r.leadsTo(ctx, id, target); !ok || err != nil {
		return "", false, err
	}
	return id, true, nil
}

// leadsTo reports whether id is a live record pointing at target on the default channel (the target index
// names the page's link on the default channel; one moved to another channel no longer holds it).
func (r *Records) leadsTo(ctx context.Context, id, target string) (bool, error) {
	if checkID(id) != nil {
		return false, nil // not an id Records wrote: a stale or foreign entry
	}
	rec, ok, err := r.Get(ctx, id)
	if err != nil {
		return false, err
	}
	return ok && !rec.Deleted && rec.Target == target && rec.Channel == "", nil
}

// SetTargetID records id as the short link for target, so that creating a link for the same target again
// can return it (IDForTarget), unless another live link already holds the target: then it returns that
// link's id as holder and ok false. On success holder is id. Call it after Create has stored id's record:
// an entry whose record is missing, deleted or pointed elsewhere is taken over, so two concurrent
// creations for one target agree on one id (the loser can delete its own record and answer the holder).
func (r *Records) SetTargetID(ctx context.Context, target, id string) (holder string, ok bool, err error) {
	if err := checkRecord(id, target); err != nil {
		return "", false, fmt.Errorf("set target id: %w", err)
	}
	key := targetIndexKey(target)
	for range 5 {
		set, err := r.rdb.SetNX(ctx, key, id, 0).Result()
		if err != nil {
			return "", false, fmt.Errorf("set target id %s: %w", id, err)
		}
		if set {
			return id, true, nil
		}
		holder, err = r.rdb.Get(ctx, key).Result()
		if errors.Is(err, redis.Nil) {
			continue // removed meanwhile: try again
		}
		if err != nil {
			return "", false, fmt.Errorf("set target id %s: %w", id, err)
		}
		if holder == id {
			return id, true, nil
		}
		live, err := r.leadsTo(ctx, holder, target)
		if err != nil {
			return "", false, fmt.Errorf("set target id %s: holder %s: %w", id, holder, err)
		}
		if live {
			return holder, false, nil
		}
		// A stale entry: take it over unless someone else did first, in which case look again.
		swapped, err := swapTargetIndexScript.Run(ctx, r.rdb, []string{key}, holder, id).Int()
		if err != nil {
			return "", false, fmt.Errorf("set target id %s: %w", id, err)
		}
		if swapped == 1 {
			return id, true, nil
		}
	}
	return "", false, fmt.Errorf("set target id %s: index entry keeps changing", id)
}

// maxClaimRounds bounds CreateForTarget's rounds: each round ends in an answer unless the target's index
// entry changed under it, which takes another writer each time.
const maxClaimRounds = 8

// CreateForTarget gives rec.Target one short link, atomically, also on Redis Cluster. When the target
// index names a live link that leads to rec.Target, it returns that link's record and created false;
// otherwise it stores rec, indexes it and returns it with created true. Of any number of concurrent calls
// for one target (whatever their ids, on any replica), exactly one returns created true and all return
// the same record. It returns an error wrapping link.ErrExists when rec.ID is taken by another record, live
// or deleted (a random id's collision: draw another); a deleted id is never revived here. A zero Created
// means now; a zero Updated means Created.
//
// The record key and the index key lie in different hash slots, so no script can write both. The
// protocol: claim the index entry for rec.ID first (SET NX), then write the record. A racer that finds
// the entry taken reads its holder's record:
//   - live and leading to the target: the answer;
//   - missing: the holder's claimer has not written it yet (or died before it): the racer writes that
//     record itself, with the holder's id, only if still absent; whoever writes it first creates it,
//     so nobody waits on another;
//   - deleted, pointing elsewhere, or not an id Records writes: stale, taken over by compare-and-swap.
//
// A claimer whose own write finds its id taken by another record releases the claim (compare-and-delete).
// A claim left by a failed write is completed by the next call for the target.
func (r *Records) CreateForTarget(ctx context.Context, rec link.Record) (got link.Record, created bool, err error) {
	if err := checkRecord(rec.ID, rec.Target); err != nil {
		return link.Record{}, false, fmt.Errorf("create for target: %w", err)
	}
	if rec.Created.IsZero() {
		rec.Created = time.Now()
	}
	if rec.Updated.IsZero() {
		rec.Updated = rec.Created
	}
	// Stored times have millisecond precision: return what is stored.
	rec.Created = time.UnixMilli(rec.Created.UnixMilli()).UTC()
	rec.Updated = time.UnixMilli(rec.Updated.UnixMilli()).UTC()
	rec.Deleted = false
	key := targetIndexKey(rec.Target)
	for range maxClaimRounds {
		claimed, err := r.rdb.SetNX(ctx, key, rec.ID, 0).Result()
		if err != nil {
			return link.Record{}, false, fmt.Errorf("create %s: claim target: %w", rec.ID, err)
		}
		if claimed {
			return r.writeClaimed(ctx, key, rec)
		}
		holder, err := r.rdb.Get(ctx, key).Result()
		if errors.Is(err, redis.Nil) {
			continue // released meanwhile: claim again
		}
		if err != nil {
			return link.Record{}, false, fmt.Errorf("create %s: read target claim: %w", rec.ID, err)
		}
		if holder == rec.ID {
			return r.writeClaimed(ctx, key, rec) // our own claim, left by an earlier call with this id
		}
		if checkID(holder) == nil {
			cur, ok, err := r.Get(ctx, holder)
			if err != nil {
				return link.Record{}, false, fmt.Errorf("create %s: holder: %w", rec.ID, err)
			}
			if ok && !cur.Deleted && cur.Target == rec.Target && cur.Channel == rec.Channel {
				return cur, false, nil
			}
			if !ok {
				// Claimed, not yet written: write the holder's record for it.
				theirs := rec
				theirs.ID = holder
				err := r.create(ctx, theirs, false)
				if err == nil {
					return theirs, true, nil
				}
				if !errors.Is(err, link.ErrExists) {
					return link.Record{}, false, err
				}
				continue // written meanwhile (by its claimer or another racer): look again
			}
		}
		// A stale entry: take it over unless someone else did first, in which case look again.
		swapped, err := swapTargetIndexScript.Run(ctx, r.rdb, []string{key}, holder, rec.ID).Int()
		if err != nil {
			return link.Record{}, false, fmt.Errorf("create %s: take over target claim: %w", rec.ID, err)
		}
		if swapped == 1 {
			return r.writeClaimed(ctx, key, rec)
		}
	}
	return link.Record{}, false, fmt.Errorf("create %s: the target's index entry keeps changing", rec.ID)
}

// writeClaimed writes rec once its id holds rec.Target's index entry (key).
func (r *Records) writeClaimed(ctx context.Context, key string, rec link.Record) (link.Record, bool, error) {
	err := r.create(ctx, rec, false)
	if err == nil {
		return rec, true, nil
	}
	if !errors.Is(err, link.ErrExists) {
		// Whether the write landed is unknown; the claim stays, and the next call for the target
		// completes it (or finds the record).
		return link.Record{}, false, err
	}
	cur, ok, gerr := r.Get(ctx, rec.ID)
	if gerr != nil {
		return link.Record{}, false, fmt.Errorf("create %s: %w", rec.ID, gerr)
	}
	if ok && !cur.Deleted && cur.Target == rec.Target && cur.Channel == rec.Channel {
		return cur, false, nil // a racer wrote it for us
	}
	// The id is another record's (a collision): give the entry up.
	if rerr := releaseTargetIndexScript.Run(ctx, r.rdb, []string{key}, rec.ID).Err(); rerr != nil {
		return link.Record{}, false, fmt.Errorf("create %s: release target claim: %w", rec.ID, rerr)
	}
	return link.Record{}, false, err
}

// Each calls fn with every record, deleted ones included, in no particular order, and stops at the first
// error fn returns, which it returns. It reads the store with SCAN (on every master of a cluster), so
// records created or deleted while it runs may or may not be seen; each record is seen at most once. fn
// is never called concurrently. It is meant for export.
func (r *Records) Each(ctx context.Context, fn func(link.Record) error) error {
	seen := make(map[string]struct{})
	return r.Batches(ctx, func(recs []link.Record) error {
		for _, rec := range recs {
			if _, dup := seen[rec.ID]; dup {
				continue // SCAN may return a key twice
			}
			seen[rec.ID] = struct{}{}
			if err := fn(rec); err != nil {
				return err
			}
		}
		return nil
	})
}

// Exist reports, for each id, whether a record (live or a tombstone) has it, in one pipelined round
// trip (one per server of a cluster). An id no record can have (empty, too long, with a brace) does
// not exist. It is meant for a copy of the store that drops what left it (internal/mirror).
func (r *Records) Exist(ctx context.Context, ids []string) ([]bool, error) {
	out := make([]bool, len(ids))
	cmds := make([]*redis.BoolCmd, len(ids))
	_, err := r.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			if checkID(id) == nil {
				cmds[i] = p.HExists(ctx, recordKey(id), fieldTarget)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("exist: %w", err)
	}
	for i, c := range cmds {
		out[i] = c != nil && c.Val()
	}
	return out, nil
}

// scanBatch is how many keys one SCAN step asks for, and so about how many records a batch of
// Batches holds.
const scanBatch = 500

// Batches is Each by the batch: it calls fn with the records of each SCAN step (about 500; never
// empty), deleted ones included, and stops at the first error fn returns, which it returns. fn may
// keep the slice. Unlike Each it keeps no set of the ids seen, so its memory does not grow with the
// store: a record may come twice (SCAN may return a key twice), and fn is never called concurrently. Each batch costs one SCAN and one pipelined round trip, and the next is not read
// before fn returns, so fn paces the walk: a full copy (internal/mirror) pauses in fn to leave the
// store to the clicks.
func (r *Records) Batches(ctx context.Context, fn func([]link.Record) error) error {
	e := &recordWalk{fn: fn}
	if cc, ok := r.rdb.(*redis.ClusterClient); ok {
		if err := cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
			return e.scan(ctx, c)
		}); err != nil {
			return fmt.Errorf("each record: %w", err)
		}
		return nil
	}
	if err := e.scan(ctx, r.rdb); err != nil {
		return fmt.Errorf("each record: %w", err)
	}
	return nil
}

// recordWalk is one Batches call, shared by the scans of a cluster's masters.
type recordWalk struct {
	fn func([]link.Record) error

	mu sync.Mutex // guards failed, and serialises fn
	// failed is fn's first error: once set, the scans of other masters stop instead of calling fn again.
	failed error
}

func (e *recordWalk) scan(ctx context.Context, c redis.Cmdable) error {
	var cursor uint64
	for {
		keys, next, err := c.Scan(ctx, cursor, recordKeyPrefix+"*"+recordKeySuffix, scanBatch).Result()
		if err != nil {
			return err
		}
		if len(keys) > 0 {
			cmds, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
				for _, k := range keys {
					p.HMGet(ctx, k, recordFields...)
				}
				return nil
			})
			if err != nil {
				return err
			}
			if err := e.visit(keys, cmds); err != nil {
				return err
			}
		}
		if next == 0 {
			return nil
		}
		cursor = next
	}
}

func (e *recordWalk) visit(keys []string, cmds []redis.Cmder) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.failed != nil {
		return e.failed
	}
	recs := make([]link.Record, 0, len(keys))
	for i, k := range keys {
		id := strings.TrimSuffix(strings.TrimPrefix(k, recordKeyPrefix), recordKeySuffix)
		rec, ok, err := parseRecord(id, cmds[i].(*redis.SliceCmd).Val())
		if err != nil {
			return fmt.Errorf("%s: %w", id, err)
		}
		if !ok {
			continue // deleted between SCAN and HMGET, or not a record
		}
		recs = append(recs, rec)
	}
	if len(recs) == 0 {
		return nil
	}
	if err := e.fn(recs); err != nil {
		e.failed = err
		return err
	}
	return nil
}

// Put stores rec as it is, tombstone or not, unless the stored record with its id was updated at the
// same time or later: the newer Updated wins, so putting the same records twice changes nothing. It is
// meant for import. The list is made to agree with the record that stays (listed when live, unlisted when
// deleted), so a Put also repairs a list entry left behind by a crash; the index entry of a live record
// it replaces is dropped when the target changes (see dropTargetID). rec needs an id, a target and a
// Created; a zero Updated means Created.
func (r *Records) Put(ctx context.Context, rec link.Record) error {
	_, err := r.Restore(ctx, rec)
	return err
}

// Change is what Restore did to the stored record.
type Change int

const (
	Unchanged Change = iota // the stored record was updated at the same time or later: nothing was written
	Created                 // no record had the id
	Updated                 // an older record was replaced
)

// Restore is Put, and reports what it did to the stored record. A Put that fails part-way (the
// record written, the list not) reports the change with the error.
func (r *Records) Restore(ctx context.Context, rec link.Record) (Change, error) {
	if err := checkRecord(rec.ID, rec.Target); err != nil {
		return Unchanged, fmt.Errorf("put record: %w", err)
	}
	if rec.Created.IsZero() {
		return Unchanged, fmt.Errorf("put record %s: zero created time", rec.ID)
	}
	if rec.Updated.IsZero() {
		rec.Updated = rec.Created
	}
	deleted := ""
	if rec.Deleted {
		deleted = "1"
	}
	res, err := putRecordScript.Run(ctx, r.rdb, []string{recordKey(rec.ID), healthHistoryKey(rec.ID)},
		rec.Target, rec.Created.UnixMilli(), rec.Updated.UnixMilli(), deleted, rec.Fallback, rec.FallbackWhen, rec.Channel, rec.Labels.Encode()).StringSlice()
	if err != nil {
		return Unchanged, fmt.Errorf("put %s: %w", rec.ID, err)
	}
	if len(res) != 4 {
		return Unchanged, fmt.Errorf("put %s: script answered %d values", rec.ID, len(res))
	}
	change := Unchanged
	switch res[3] {
	case "created":
		change = Created
	case "updated":
		change = Updated
	}
	if old := res[2]; old != "" && (old != rec.Target || rec.Deleted) {
		r.dropTargetID(ctx, old, rec.ID)
	}
	if res[1] == "1" {
		r.dropFold(ctx, rec.ID)
		err = r.rdb.ZRem(ctx, linkListKey, rec.ID).Err()
	} else {
		created, perr := strconv.ParseInt(res[0], 10, 64)
		if perr != nil {
			return change, fmt.Errorf("put %s: record created: %w", rec.ID, perr)
		}
		err = r.rdb.ZAdd(ctx, linkListKey, redis.Z{Score: float64(created), Member: rec.ID}).Err()
	}
	if err != nil {
		return change, fmt.Errorf("put %s: list: %w", rec.ID, err)
	}
	return change, nil
}
