package store_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redirector/redirector/internal/link"
	"github.com/redirector/redirector/internal/store"
)

// Of concurrent CreateSlugs of one slug in different cases exactly one wins; FoldID finds it from any
// case; deleted, the slug is free again in any case.
func TestCreateSlugIgnoresCase(t *testing.T) { forEachBackend(t, createSlugIgnoresCase) }

func createSlugIgnoresCase(t *testing.T, rdb redis.UniversalClient) {
	ctx := context.Background()
	rs := store.NewRecords(rdb)
	now := time.Now()
	spellings := []string{"Promo-Code", "promo-code", "PROMO-CODE", "pRoMo-CoDe", "Promo-code", "promo-Code", "PROMO-code", "promo-CODE"}
	var wg sync.WaitGroup
	errs := make([]error, len(spellings))
	for i, s := range spellings {
		wg.Go(func() {
			errs[i] = rs.CreateSlug(ctx, testRecord(s, "https://www.aliexpress.com/item/1005001000000009.html", now))
		})
	}
	wg.Wait()
	winner := ""
	for i, err := range errs {
		switch {
		case err == nil && winner == "":
			winner = spellings[i]
		case err == nil:
			t.Fatalf("CreateSlug(%s) and CreateSlug(%s) both succeeded", winner, spellings[i])
		case !errors.Is(err, link.ErrExists):
			t.Fatalf("CreateSlug(%s) = %v, want ErrExists or success", spellings[i], err)
		}
	}
	if winner == "" {
		t.Fatal("no CreateSlug succeeded")
	}
	for _, s := range spellings {
		if id, ok, err := rs.FoldID(ctx, s); err != nil || !ok || id != winner {
			t.Errorf("FoldID(%s) = %q, %v, %v; want %s", s, id, ok, err, winner)
		}
		if s != winner {
			if _, ok, _ := rs.Get(ctx, s); ok {
				t.Errorf("a record %s exists beside %s", s, winner)
			}
		}
	}
	if err := rs.Delete(ctx, winner, now.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := rs.FoldID(ctx, strings.ToUpper(winner)); ok || err != nil {
		t.Errorf("FoldID after delete = %v, %v; want none", ok, err)
	}
	if n, err := rdb.Exists(ctx, "rd:v1:slug:promo-code").Result(); err != nil || n != 0 {
		t.Errorf("the slug's entry after delete: EXISTS = %d, %v; want 0 (its owner is gone)", n, err)
	}
	if err := rs.CreateSlug(ctx, testRecord("PROMO-CODE", "https://www.aliexpress.com/item/1005001000000008.html", now.Add(2*time.Second))); err != nil {
		t.Errorf("CreateSlug of the deleted slug in another case: %v", err)
	}
}
