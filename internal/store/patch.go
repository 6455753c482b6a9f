package store

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redirector/redirector/internal/link"
)

// patchTries bounds how often Patch reads a record again when a concurrent write changed it between the
// read and the write.
const patchTries = 8

// errPatchRace is Patch's error when the record kept changing under it patchTries times.
var errPatchRace = errors.New("the record kept changing: try again")

// patchRecordScript writes a patch to a live record if what the new diversion was computed from is still
// as read: ARGV[1..6] are the target, fallback, fallback_when, h_state, p_store and p_title read (""
// for absent); the plan B read is not compared when ARGV[12] is "1" (the patch gives the whole plan B). ARGV[7] is the new target, ARGV[8] and ARGV[9] the new fallback and fallback_when (""
// drops them), ARGV[10] the new divert ("" drops it), ARGV[11] updated; when ARGV[13] is "1", ARGV[14] replaces the labels ("" drops them); when ARGV[15] is "1", ARGV[16]
// replaces the channel ("" drops it: the default channel). A new target drops the health
// found for the old one and its history KEYS[2], as a retarget does. Returns {"ok", created}, {"changed"} when the record moved
// on since it was read, or false (a nil reply) when there is no live record.
var patchRecordScript = redis.NewScript(`
local cur = redis.call('HMGET', KEYS[1], 'target', 'deleted', 'fallback', 'fallback_when', 'h_state', 'p_store', 'p_title', 'created')
if not cur[1] or cur[2] == '1' then
  return false
end
if cur[1] ~= ARGV[1] or (ARGV[12] ~= '1' and ((cur[3] or '') ~= ARGV[2] or (cur[4] or '') ~= ARGV[3]))
  or (cur[5] or '') ~= ARGV[4] or (cur[6] or '') ~= ARGV[5] or (cur[7] or '') ~= ARGV[6] then
  return {'changed'}
end
redis.call('HSET', KEYS[1], 'target', ARGV[7], 'updated', ARGV[11])
if cur[1] ~= ARGV[7] then
  redis.call('HDEL', KEYS[1], 'h_state', 'h_seen', 'p_title', 'p_image', 'p_price', 'p_cur', 'p_comm', 'p_store')
  redis.call('DEL', KEYS[2])
end
if ARGV[8] ~= '' then
  redis.call('HSET', KEYS[1], 'fallback', ARGV[8])
else
  redis.call('HDEL', KEYS[1], 'fallback')
end
if ARGV[9] ~= '' then
  redis.call('HSET', KEYS[1], 'fallback_when', ARGV[9])
else
  redis.call('HDEL', KEYS[1], 'fallback_when')
end
if ARGV[10] ~= '' then
  redis.call('HSET', KEYS[1], 'divert', ARGV[10])
else
  redis.call('HDEL', KEYS[1], 'divert')
end
if ARGV[13] == '1' then
  if ARGV[14] ~= '' then
    redis.call('HSET', KEYS[1], 'labels', ARGV[14])
  else
    redis.call('HDEL', KEYS[1], 'labels')
  end
end
if ARGV[15] == '1' then
  if ARGV[16] ~= '' then
    redis.call('HSET', KEYS[1], 'channel', ARGV[16])
  else
    redis.call('HDEL', KEYS[1], 'channel')
  end
end
return {'ok', cur[8] or '0'}
`)

// Patch changes the live record id's target and plan B as p says, in one atomic write, and returns the
// record as stored. Where its clicks are diverted is recomputed by divert (internal/health's Divert) from
// the record as patched and its health: the health stored, or none (unknown) when the target changes,
// since a new target's health is not known yet (as Retarget). The write happens only if the fields that
// decision read are unchanged (the plan B read only when p does not give it whole); a concurrent change
// makes Patch read again, after a short random pause, a bounded number of times.
//
// Errors: link.ErrNotFound (wrapped) when the record is missing or deleted; link.ErrInvalid when the
// record as patched would have a FallbackWhen without a Fallback, or an empty target. Nothing is written
// on any error. The values are not checked otherwise: the caller gives accepted pages.
func (r *Records) Patch(ctx context.Context, id string, p link.Patch, now time.Time, divert func(link.Record, link.Health) string) (link.Record, error) {
	if err := checkID(id); err != nil {
		return link.Record{}, fmt.Errorf("patch record: %w", err)
	}
	// The plan B read matters only when p leaves part of it as it is.
	whole := "0"
	if p.Fallback != nil && (p.FallbackWhen != nil || *p.Fallback == "") {
		whole = "1"
	}
	for try := range patchTries {
		if try > 0 {
			if err := pause(ctx, time.Duration(1+rand.IntN(try*2))*time.Millisecond); err != nil {
				return link.Record{}, fmt.Errorf("patch %s: %w", id, err)
			}
		}
		rec, ok, err := r.Get(ctx, id)
		if err != nil {
			return link.Record{}, fmt.Errorf("patch %s: %w", id, err)
		}
		if !ok || rec.Deleted {
			return link.Record{}, fmt.Errorf("patch %s: %w", id, link.ErrNotFound)
		}
		// The state as stored, for the script to compare (Health reads an absent or unreadable one as
		// unknown); read before the health, so that a change in between makes the script refuse.
		state, err := r.rdb.HGet(ctx, recordKey(id), fieldHealthState).Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			return link.Record{}, fmt.Errorf("patch %s: %w", id, err)
		}
		hs, err := r.Health(ctx, []string{id})
		if err != nil {
			return link.Record{}, fmt.Errorf("patch %s: %w", id, err)
		}
		h := hs[0]
		read := rec
		rec.Updated = time.UnixMilli(now.UnixMilli()).UTC()
		if p.Target != nil {
			rec.Target = *p.Target
		}
		if p.Fallback != nil {
			rec.Fallback = *p.Fallback
			if *p.Fallback == "" && p.FallbackWhen == nil {
				rec.FallbackWhen = "" // a plan B cleared takes its condition with it
			}
		}
		if p.FallbackWhen != nil {
			rec.FallbackWhen = *p.FallbackWhen
		}
		setLabels, labels := "0", ""
		if p.Labels != nil {
			rec.Labels = *p.Labels
			setLabels, labels = "1", rec.Labels.Encode()
		}
		setChannel := "0"
		if p.Channel != nil {
			rec.Channel, setChannel = *p.Channel, "1"
		}
		switch {
		case rec.Target == "":
			return link.Record{}, link.Invalid("the link's target cannot be empty")
		case rec.FallbackWhen != "" && rec.Fallback == "":
			return link.Record{}, link.Invalid("fallback_when needs a fallback_url")
		}
		after := h
		if rec.Target != read.Target {
			after = link.Health{State: link.HealthUnknown}
		}
		rec.Divert = divert(rec, after)
		res, err := patchRecordScript.Run(ctx, r.rdb, []string{recordKey(id), healthHistoryKey(id)},
			read.Target, read.Fallback, read.FallbackWhen, state, h.Product.Store, h.Product.Title,
			rec.Target, rec.Fallback, rec.FallbackWhen, rec.Divert, now.UnixMilli(), whole, setLabels, labels, setChannel, rec.Channel).StringSlice()
		if errors.Is(err, redis.Nil) {
			return link.Record{}, fmt.Errorf("patch %s: %w", id, link.ErrNotFound)
		}
		if err != nil {
			return link.Record{}, fmt.Errorf("patch %s: %w", id, err)
		}
		if len(res) == 1 && res[0] == "changed" {
			continue
		}
		if len(res) != 2 || res[0] != "ok" {
			return link.Record{}, fmt.Errorf("patch %s: script answered %q", id, res)
		}
		if rec.Created, err = parseMs(res[1]); err != nil {
			return link.Record{}, fmt.Errorf("patch %s: record created: %w", id, err)
		}
		if read.Target != rec.Target || (read.Channel == "" && rec.Channel != "") {
			// The page's shared id leads to the default channel: a link moved off it gives the entry up.
			r.dropTargetID(ctx, read.Target, id)
		}
		return rec, nil
	}
	return link.Record{}, fmt.Errorf("patch %s: %w", id, errPatchRace)
}

// pause waits d, or until ctx ends.
func pause(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
