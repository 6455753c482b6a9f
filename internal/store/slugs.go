package store

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/redirector/redirector/internal/link"
)

// slugFoldPrefix + a slug in lower case holds the id of the live short link whose slug it is, so that a
// slug typed in another case finds its link (FoldID) and two slugs differing only in case cannot both be
// created (CreateSlug). Owned by the live record it names: Delete drops it, and an entry whose record is
// missing or deleted (a crash between two steps) is ignored by FoldID and taken over by CreateSlug.
const slugFoldPrefix = "rd:v1:slug:"

// maxFoldClaims bounds CreateSlug's rounds: each ends in an answer unless the entry changed under it.
const maxFoldClaims = 5

func slugFoldKey(id string) string { return slugFoldPrefix + strings.ToLower(id) }

// CreateSlug is Create for a custom slug: besides rec.ID, it takes the slug ignoring case. It returns an
// error wrapping link.ErrExists, having written nothing, when a live record has rec.ID or when another
// live link holds the slug in another case (its entry, see slugFoldPrefix). Slugs differ from random
// ids here only: random ids (Create, CreateForTarget) stay case-sensitive and take no entry.
//
// The entry is claimed first (SET NX, or compare-and-swap of a stale one), then the record written, so
// a crash between the two leaves an entry without a record, which the next claim takes over.
func (r *Records) CreateSlug(ctx context.Context, rec link.Record) error {
	if err := checkRecord(rec.ID, rec.Target); err != nil {
		return fmt.Errorf("create slug: %w", err)
	}
	if err := r.claimFold(ctx, rec.ID); err != nil {
		return err
	}
	return r.Create(ctx, rec)
}

// claimFold makes id's fold entry name id, unless it names another live record (link.ErrExists).
func (r *Records) claimFold(ctx context.Context, id string) error {
	key := slugFoldKey(id)
	for range maxFoldClaims {
		set, err := r.rdb.SetNX(ctx, key, id, 0).Result()
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
		if live, err := r.holds(ctx, holder, key); err != nil {
			return fmt.Errorf("create %s: slug holder %s: %w", id, holder, err)
		} else if live {
			return fmt.Errorf("create %s: %s differs only in case: %w", id, holder, link.ErrExists)
		}
		swapped, err := swapTargetIndexScript.Run(ctx, r.rdb, []string{key}, holder, id).Int()
		if err != nil {
			return fmt.Errorf("create %s: take over slug claim: %w", id, err)
		}
		if swapped == 1 {
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
	return err == nil, err
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
