package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redirector/redirector/internal/link"
)

// slugFoldPrefix + a slug in lower case holds the id of the live short link whose slug it is, so that a
// slug typed in another case finds its link (FoldID) and two slugs differing only in case cannot both be
// created (CreateSlug). Owned by the live record it names: Delete drops it; while a create is under way
// it expires (foldPending); an entry naming a record missing or deleted is ignored by FoldID and taken
// over by CreateSlug.
const slugFoldPrefix = "rd:v1:slug:"

// maxFoldClaims bounds CreateSlug's rounds: each ends in an answer unless the entry changed under it.
const maxFoldClaims = 5

// foldPending is how long a claim of a slug's entry waits for its record: it is written expiring, and
// made lasting once the record is written, so a claimer that dies in between leaves nothing for long,
// and a racer that finds a claim still expiring knows another create is under way.
const foldPending = 10 * time.Second

var (
	// takeFoldScript sets KEYS[1] to ARGV[2], expiring in ARGV[3] ms, if it still holds ARGV[1] and
	// lasts (no expiry: not a create under way). Returns 1 when taken.
	takeFoldScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] and redis.call('PTTL', KEYS[1]) == -1 then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0
`)
	// keepFoldScript makes KEYS[1] last if it holds ARGV[1]. Returns 1 when it does.
	keepFoldScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PERSIST', KEYS[1])
  return 1
end
return 0
`)
)

func slugFoldKey(id string) string { return slugFoldPrefix + strings.ToLower(id) }

// CreateSlug is Create for a custom slug: besides rec.ID, it takes the slug ignoring case. It returns an
// error wrapping link.ErrExists, having written nothing, when a live record has rec.ID or when another
// link holds the slug in another case (a live one, or one being created). Of concurrent CreateSlugs of
// one slug in any cases, at most one succeeds. Slugs differ from random ids here only: random ids
// (Create, CreateForTarget) stay case-sensitive and take no entry.
//
// The entry is claimed first, expiring (foldPending), then the record written, then the entry made
// lasting: a crash in between leaves an entry that expires, or that names a record missing or deleted,
// which the next claim takes over.
func (r *Records) CreateSlug(ctx context.Context, rec link.Record) error {
	if err := checkRecord(rec.ID, rec.Target); err != nil {
		return fmt.Errorf("create slug: %w", err)
	}
	if err := r.claimFold(ctx, rec.ID); err != nil {
		return err
	}
	err := r.Create(ctx, rec)
	if err != nil && !errors.Is(err, link.ErrExists) {
		return err // the claim expires unless the record was written after all (the next claim keeps it)
	}
	// Created, or a live record has the id already: either way the entry names its owner.
	if kerr := keepFoldScript.Run(ctx, r.rdb, []string{slugFoldKey(rec.ID)}, rec.ID).Err(); kerr != nil && err == nil {
		return fmt.Errorf("create %s: keep slug claim: %w", rec.ID, kerr)
	}
	return err
}

// claimFold makes id's fold entry name id (expiring, until CreateSlug or IndexSlug makes it last),
// unless it names another live record or a create under way (link.ErrExists).
func (r *Records) claimFold(ctx context.Context, id string) error {
	key := slugFoldKey(id)
	for range maxFoldClaims {
		set, err := r.rdb.SetNX(ctx, key, id, foldPending).Result()
		if err != nil {
			return fmt.Errorf("create %s: claim slug: %w", id, err)
		}
		if set {
			return nil
		}
		holder, err := r.rdb.Get(ctx, key).Result()
		if errors.Is(err, redis.Nil) {
			continue // released meanwhile
		}
		if err != nil {
			return fmt.Errorf("create %s: read slug claim: %w", id, err)
		}
		if holder == id {
			return nil
		}
		// The order matters: an entry is made lasting only after its record is written, so one that
		// lasts and then names no live record is stale (its record deleted, or never written), not a
		// create under way.
		ttl, err := r.rdb.PTTL(ctx, key).Result()
		if err != nil {
			return fmt.Errorf("create %s: read slug claim: %w", id, err)
		}
		if ttl > 0 {
			return fmt.Errorf("create %s: %s is being created: %w", id, holder, link.ErrExists)
		}
		if live, err := r.holds(ctx, holder, key); err != nil {
			return fmt.Errorf("create %s: slug holder %s: %w", id, holder, err)
		} else if live {
			return fmt.Errorf("create %s: %s differs only in case: %w", id, holder, link.ErrExists)
		}
		taken, err := takeFoldScript.Run(ctx, r.rdb, []string{key}, holder, id, foldPending.Milliseconds()).Int()
		if err != nil {
			return fmt.Errorf("create %s: take over slug claim: %w", id, err)
		}
		if taken == 1 {
			return nil
		}
	}
	return fmt.Errorf("create %s: the slug's entry keeps changing", id)
}

// holds reports whether holder is a live record whose fold entry is key.
func (r *Records) holds(ctx context.Context, holder, key string) (bool, error) {
	if checkID(holder) != nil || slugFoldKey(holder) != key {
		return false, nil // not an entry CreateSlug wrote
	}
	rec, ok, err := r.Get(ctx, holder)
	if err != nil {
		return false, err
	}
	return ok && !rec.Deleted, nil
}

// FoldID returns the id of the live link whose slug equals id ignoring case. ok is false when there is
// none (also when the entry is stale), and for an id no record can have. One GET, and one HMGET of the
// holder's record when there is an entry: it is meant for a click whose exact id missed.
func (r *Records) FoldID(ctx context.Context, id string) (canonical string, ok bool, err error) {
	if checkID(id) != nil {
		return "", false, nil
	}
	key := slugFoldKey(id)
	holder, err := r.rdb.Get(ctx, key).Result()
	if errors.Is(err, redis.Nil) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("fold id %s: %w", id, err)
	}
	live, err := r.holds(ctx, holder, key)
	if err != nil {
		return "", false, fmt.Errorf("fold id %s: %w", id, err)
	}
	return holder, live, nil
}

// IndexSlug gives the live link id its fold entry unless the slug is held by another live link in
// another case, in which case ok is false and both stay reachable by their exact ids. It is for links
// made before slugs were matched ignoring case, and for import.
func (r *Records) IndexSlug(ctx context.Context, id string) (ok bool, err error) {
	if err := checkID(id); err != nil {
		return false, fmt.Errorf("index slug: %w", err)
	}
	err = r.claimFold(ctx, id)
	if errors.Is(err, link.ErrExists) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	// The record exists (the caller's): the entry lasts, unless the record was deleted meanwhile.
	if live, err := r.holds(ctx, id, slugFoldKey(id)); err != nil || !live {
		r.dropFold(ctx, id)
		return false, err
	}
	if err := keepFoldScript.Run(ctx, r.rdb, []string{slugFoldKey(id)}, id).Err(); err != nil {
		return false, fmt.Errorf("index slug %s: %w", id, err)
	}
	return true, nil
}

// dropFold removes id's fold entry if it names id, once id's record is deleted. A failure leaves an
// entry naming a deleted record, which FoldID ignores and CreateSlug takes over.
func (r *Records) dropFold(ctx context.Context, id string) {
	_ = releaseTargetIndexScript.Run(ctx, r.rdb, []string{slugFoldKey(id)}, id).Err()
}

// IndexSlugs gives every live link whose id isSlug says is a custom slug its fold entry (IndexSlug), so
// that slugs made before they were matched ignoring case are found in any case too, and a slug differing
// only in case cannot be created beside them. Of slugs that differ only in case (possible before), the
// first seen takes the entry; the others stay reachable by their exact ids. It walks the store as Each
// does and returns how many entries it wrote or found in place. Running it again changes nothing.
func (r *Records) IndexSlugs(ctx context.Context, isSlug func(id string) bool) (int, error) {
	n := 0
	err := r.Batches(ctx, func(recs []link.Record) error {
		for _, rec := range recs {
			if rec.Deleted || !isSlug(rec.ID) {
				continue
			}
			ok, err := r.IndexSlug(ctx, rec.ID)
			if err != nil {
				return err
			}
			if ok {
				n++
			}
		}
		return nil
	})
	if err != nil {
		return n, fmt.Errorf("index slugs: %w", err)
	}
	return n, nil
}
