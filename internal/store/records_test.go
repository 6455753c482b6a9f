package store_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redirector/redirector/internal/link"
	"github.com/redirector/redirector/internal/redistest"
	"github.com/redirector/redirector/internal/store"
)

// recT0 is a fixed instant with whole milliseconds, as the store keeps them.
var recT0 = time.Date(2025, 3, 14, 9, 26, 53, 589_000_000, time.UTC)

func testRecord(id, target string, created time.Time) link.Record {
	return link.Record{ID: id, Target: target, Created: created, Updated: created}
}

func mustCreateRecord(t testing.TB, ctx context.Context, rs *store.Records, r link.Record) {
	t.Helper()
	if err := rs.Create(ctx, r); err != nil {
		t.Fatalf("Create(%+v) = %v, want nil", r, err)
	}
}

func mustGetRecord(t testing.TB, ctx context.Context, rs *store.Records, id string) link.Record {
	t.Helper()
	r, ok, err := rs.Get(ctx, id)
	if err != nil || !ok {
		t.Fatalf("Get(%q) = %+v, %v, %v, want a record", id, r, ok, err)
	}
	return r
}

func TestRecordsCreateGet(t *testing.T) { forEachBackend(t, recordsCreateGet) }

func recordsCreateGet(t *testing.T, rdb redis.UniversalClient) {
	ctx := context.Background()
	rs := store.NewRecords(rdb)

	want := testRecord("abc", "https://www.aliexpress.com/store/1", recT0)
	mustCreateRecord(t, ctx, rs, want)
	if got := mustGetRecord(t, ctx, rs, "abc"); got != want {
		t.Errorf("Get(%q) = %+v, want %+v", "abc", got, want)
	}

	// The layout other tools (and a cluster) rely on.
	fields, err := rdb.HGetAll(ctx, "rd:v1:{abc}:rec").Result()
	if err != nil {
		t.Fatalf("HGetAll: %v", err)
	}
	wantFields := map[string]string{"target": want.Target, "created": "1741944413589", "updated": "1741944413589"}
	if !reflect.DeepEqual(fields, wantFields) {
		t.Errorf("HGETALL rd:v1:{abc}:rec = %v, want %v", fields, wantFields)
	}
	if score, err := rdb.ZScore(ctx, "rd:v1:links", "abc").Result(); err != nil || score != 1741944413589 {
		t.Errorf("ZSCORE rd:v1:links abc = %v, %v, want 1741944413589", score, err)
	}

	for _, id := range []string{"nope", "a{b}", strings.Repeat("x", 300)} {
		if got, ok, err := rs.Get(ctx, id); err != nil || ok {
			t.Errorf("Get(%q) = %+v, %v, %v, want a miss", id, got, ok, err)
		}
	}

	err = rs.Create(ctx, testRecord("abc", "https://www.aliexpress.com/store/2", recT0.Add(time.Hour)))
	if !errors.Is(err, link.ErrExists) {
		t.Errorf("Create(existing id) = %v, want ErrExists", err)
	}
	if got := mustGetRecord(t, ctx, rs, "abc"); got != want {
		t.Errorf("after a refused Create, Get(%q) = %+v, want %+v", "abc", got, want)
	}
	if score, _ := rdb.ZScore(ctx, "rd:v1:links", "abc").Result(); score != 1741944413589 {
		t.Errorf("a refused Create moved the list score to %v", score)
	}

	t.Run("zero times", func(t *testing.T) {
		before := time.Now().Add(-time.Millisecond)
		mustCreateRecord(t, ctx, rs, link.Record{ID: "now", Target: "https://a.example/"})
		got := mustGetRecord(t, ctx, rs, "now")
		if got.Created.Before(before) || got.Created.After(time.Now()) || !got.Updated.Equal(got.Created) {
			t.Errorf("Create with zero times stored Created %v Updated %v, want now for both", got.Created, got.Updated)
		}
	})
}

func TestRecordsBadInput(t *testing.T) { forEachBackend(t, recordsBadInput) }

func recordsBadInput(t *testing.T, rdb redis.UniversalClient) {
	ctx := context.Background()
	rs := store.NewRecords(rdb)
	long := string(make([]byte, 300))
	tests := []struct {
		name string
		call func() error
	}{
		{"create empty id", func() error { return rs.Create(ctx, testRecord("", "https://a.example/", recT0)) }},
		{"create empty target", func() error { return rs.Create(ctx, testRecord("a", "", recT0)) }},
		{"create brace id", func() error { return rs.Create(ctx, testRecord("a}b", "https://a.example/", recT0)) }},
		{"create long id", func() error { return rs.Create(ctx, testRecord(long, "https://a.example/", recT0)) }},
		{"put empty id", func() error { return rs.Put(ctx, testRecord("", "https://a.example/", recT0)) }},
		{"put empty target", func() error { return rs.Put(ctx, testRecord("a", "", recT0)) }},
		{"put zero created", func() error { return rs.Put(ctx, link.Record{ID: "a", Target: "https://a.example/"}) }},
		{"retarget empty id", func() error { _, err := rs.Retarget(ctx, "", "https://a.example/", recT0); return err }},
		{"retarget empty target", func() error { _, err := rs.Retarget(ctx, "a", "", recT0); return err }},
		{"delete empty id", func() error { return rs.Delete(ctx, "", recT0) }},
		{"get empty id", func() error { _, _, err := rs.Get(ctx, ""); return err }},
		{"set target id empty target", func() error { _, _, err := rs.SetTargetID(ctx, "", "a"); return err }},
		{"set target id empty id", func() error { _, _, err := rs.SetTargetID(ctx, "https://a.example/", ""); return err }},
		{"id for empty target", func() error { _, _, err := rs.IDForTarget(ctx, ""); return err }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if err == nil {
				t.Fatalf("%s = nil error, want one", tc.name)
			}
			if errors.Is(err, link.ErrNotFound) || errors.Is(err, link.ErrExists) {
				t.Errorf("%s = %v, want an input error, not a store sentinel", tc.name, err)
			}
			if n, err := rdb.DBSize(ctx).Result(); err != nil || n != 0 {
				t.Errorf("after %s, DBSIZE = %d, %v, want 0 (nothing written)", tc.name, n, err)
			}
		})
	}
}

func TestRecordsCreateRace(t *testing.T) { forEachBackend(t, recordsCreateRace) }

func recordsCreateRace(t *testing.T, rdb redis.UniversalClient) {
	const racers = 50
	ctx := context.Background()
	rs := store.NewRecords(rdb)
	var (
		wg       sync.WaitGroup
		start    = make(chan struct{})
		errs     = make([]error, racers)
		attempts = make([]link.Record, racers)
	)
	for i := range racers {
		attempts[i] = testRecord("slug", fmt.Sprintf("https://a.example/%d", i), recT0.Add(time.Duration(i)*time.Millisecond))
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = rs.Create(ctx, attempts[i])
		}()
	}
	close(start)
	wg.Wait()

	winner := -1
	for i, err := range errs {
		switch {
		case err == nil:
			if winner >= 0 {
				t.Errorf("Create succeeded for racers %d and %d, want exactly one", winner, i)
			}
			winner = i
		case !errors.Is(err, link.ErrExists):
			t.Errorf("racer %d: Create = %v, want nil or ErrExists", i, err)
		}
	}
	if winner < 0 {
		t.Fatalf("no Create of %d succeeded, want exactly one", racers)
	}
	if got := mustGetRecord(t, ctx, rs, "slug"); got != attempts[winner] {
		t.Errorf("Get(slug) = %+v, want the winner's %+v", got, attempts[winner])
	}
	page, _, err := rs.List(ctx, "", 10)
	if err != nil || len(page) != 1 || page[0] != attempts[winner] {
		t.Errorf("List = %+v, %v, want only the winner's record", page, err)
	}
	if score, err := rdb.ZScore(ctx, "rd:v1:links", "slug").Result(); err != nil || int64(score) != attempts[winner].Created.UnixMilli() {
		t.Errorf("list score = %v, %v, want the winner's created %d", score, err, attempts[winner].Created.UnixMilli())
	}
}

func TestRecordsRetarget(t *testing.T) { forEachBackend(t, recordsRetarget) }

func recordsRetarget(t *testing.T, rdb redis.UniversalClient) {
	ctx := context.Background()
	rs := store.NewRecords(rdb)
	mustCreateRecord(t, ctx, rs, testRecord("a", "https://a.example/old", recT0))
	mustCreateRecord(t, ctx, rs, testRecord("gone", "https://a.example/gone", recT0))
	if err := rs.Delete(ctx, "gone", recT0.Add(time.Minute)); err != nil {
		t.Fatalf("Delete(gone) = %v", err)
	}

	now := recT0.Add(time.Hour + 123*time.Microsecond)
	got, err := rs.Retarget(ctx, "a", "https://a.example/new", now)
	want := link.Record{ID: "a", Target: "https://a.example/new", Created: recT0, Updated: now.Truncate(time.Millisecond)}
	if err != nil || got != want {
		t.Fatalf("Retarget(a) = %+v, %v, want %+v", got, err, want)
	}
	if stored := mustGetRecord(t, ctx, rs, "a"); stored != want {
		t.Errorf("after Retarget, Get(a) = %+v, want %+v", stored, want)
	}

	for _, id := range []string{"missing", "gone"} {
		if _, err := rs.Retarget(ctx, id, "https://a.example/x", now); !errors.Is(err, link.ErrNotFound) {
			t.Errorf("Retarget(%q) = %v, want ErrNotFound", id, err)
		}
	}
	if got := mustGetRecord(t, ctx, rs, "gone"); got.Target != "https://a.example/gone" || !got.Deleted {
		t.Errorf("a refused Retarget changed the tombstone: %+v", got)
	}
	if ok, _ := rdb.Exists(ctx, "rd:v1:{missing}:rec").Result(); ok != 0 {
		t.Errorf("Retarget(missing) created a record")
	}
}

func TestRecordsDelete(t *testing.T) { forEachBackend(t, recordsDelete) }

func recordsDelete(t *testing.T, rdb redis.UniversalClient) {
	ctx := context.Background()
	rs := store.NewRecords(rdb)
	mustCreateRecord(t, ctx, rs, testRecord("a", "https://a.example/a", recT0))
	mustCreateRecord(t, ctx, rs, testRecord("b", "https://a.example/b", recT0.Add(time.Second)))

	del := recT0.Add(time.Hour)
	if err := rs.Delete(ctx, "a", del); err != nil {
		t.Fatalf("Delete(a) = %v, want nil", err)
	}
	want := link.Record{ID: "a", Target: "https://a.example/a", Created: recT0, Updated: del, Deleted: true}
	if got := mustGetRecord(t, ctx, rs, "a"); got != want {
		t.Errorf("Get(a) after Delete = %+v, want tombstone %+v", got, want)
	}
	if n, err := rdb.ZScore(ctx, "rd:v1:links", "a").Result(); !errors.Is(err, redis.Nil) {
		t.Errorf("deleted id still listed with score %v (err %v)", n, err)
	}
	page, _, err := rs.List(ctx, "", 10)
	if err != nil || len(page) != 1 || page[0].ID != "b" {
		t.Errorf("List after Delete(a) = %+v, %v, want only b", page, err)
	}

	for _, id := range []string{"a", "missing"} {
		if err := rs.Delete(ctx, id, del); !errors.Is(err, link.ErrNotFound) {
			t.Errorf("Delete(%q) = %v, want ErrNotFound", id, err)
		}
	}
	if ok, _ := rdb.Exists(ctx, "rd:v1:{missing}:rec").Result(); ok != 0 {
		t.Errorf("Delete(missing) created a record")
	}

	t.Run("re-creating revives", func(t *testing.T) {
		revived := testRecord("a", "https://a.example/again", recT0.Add(2*time.Hour))
		mustCreateRecord(t, ctx, rs, revived)
		if got := mustGetRecord(t, ctx, rs, "a"); got != revived {
			t.Errorf("Get(a) after re-Create = %+v, want %+v", got, revived)
		}
		page, _, err := rs.List(ctx, "", 10)
		if err != nil || len(page) != 2 || page[0] != revived {
			t.Errorf("List after revival = %+v, %v, want a (newest) then b", page, err)
		}
	})
}

// ids returns the records' ids.
func recordIDs(rs []link.Record) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.ID
	}
	return out
}

// listAll pages through List with limit and returns every record, failing t on a repeat.
func listAll(t *testing.T, ctx context.Context, rs *store.Records, limit int, between func(page int)) []link.Record {
	t.Helper()
	var all []link.Record
	cursor := ""
	for page := 0; ; page++ {
		got, next, err := rs.List(ctx, cursor, limit)
		if err != nil {
			t.Fatalf("List(%q, %d) error: %v", cursor, limit, err)
		}
		if len(got) > limit {
			t.Fatalf("List(%q, %d) returned %d records", cursor, limit, len(got))
		}
		if next != "" && len(got) != limit {
			t.Errorf("List(%q, %d) returned %d records and a next cursor, want a full page", cursor, limit, len(got))
		}
		all = append(all, got...)
		if next == "" {
			return all
		}
		if page > 1000 {
			t.Fatalf("List does not end")
		}
		if between != nil {
			between(page)
		}
		cursor = next
	}
}

func TestRecordsList(t *testing.T) { forEachBackend(t, recordsList) }

func recordsList(t *testing.T, rdb redis.UniversalClient) {
	ctx := context.Background()
	rs := store.NewRecords(rdb)

	// 40 records; ids r20..r29 share one millisecond, so ties are broken by id.
	var want []string // newest first
	for i := range 40 {
		created := recT0.Add(time.Duration(i) * time.Second)
		if i >= 20 && i < 30 {
			created = recT0.Add(20 * time.Second)
		}
		mustCreateRecord(t, ctx, rs, testRecord(fmt.Sprintf("r%02d", i), "https://a.example/", created))
	}
	for _, id := range []string{"r03", "r22", "r39"} {
		if err := rs.Delete(ctx, id, recT0.Add(time.Hour)); err != nil {
			t.Fatalf("Delete(%q) = %v", id, err)
		}
	}
	// Left behind by a crash or a race: members whose record is missing or deleted.
	if err := rdb.ZAdd(ctx, "rd:v1:links",
		redis.Z{Score: float64(recT0.Add(15 * time.Second).UnixMilli()), Member: "orphan"},
		redis.Z{Score: float64(recT0.Add(5 * time.Second).UnixMilli()), Member: "r03"}).Err(); err != nil {
		t.Fatalf("ZAdd: %v", err)
	}
	for i := 39; i >= 0; i-- {
		id := fmt.Sprintf("r%02d", i)
		if id != "r03" && id != "r22" && id != "r39" {
			want = append(want, id)
		}
	}

	for _, limit := range []int{1, 3, 4, 7, 37, 100} {
		t.Run(fmt.Sprintf("limit %d", limit), func(t *testing.T) {
			got := recordIDs(listAll(t, ctx, rs, limit, nil))
			if !reflect.DeepEqual(got, want) {
				t.Errorf("paging by %d gave %v, want %v", limit, got, want)
			}
		})
	}

	t.Run("inserts while paging", func(t *testing.T) {
		n := 0
		got := recordIDs(listAll(t, ctx, rs, 5, func(int) {
			// Newer links appear on a first page, never in the middle of a listing under way.
			n++
			mustCreateRecord(t, ctx, rs, testRecord(fmt.Sprintf("new%02d", n), "https://a.example/", recT0.Add(time.Hour+time.Duration(n)*time.Second)))
		}))
		if !reflect.DeepEqual(got, want) {
			t.Errorf("paging while inserting gave %v, want %v", got, want)
		}
		first, _, err := rs.List(ctx, "", 1)
		if err != nil || len(first) != 1 || first[0].ID != fmt.Sprintf("new%02d", n) {
			t.Errorf("List first page = %v, %v, want the newest insert new%02d", recordIDs(first), err, n)
		}
	})

	t.Run("records", func(t *testing.T) {
		got, _, err := rs.List(ctx, "", 1000)
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		for _, r := range got {
			if stored := mustGetRecord(t, ctx, rs, r.ID); r != stored {
				t.Errorf("List gave %+v, Get gives %+v", r, stored)
			}
		}
	})

	t.Run("default limit", func(t *testing.T) {
		all := recordIDs(listAll(t, ctx, rs, store.MaxListLimit, nil))
		wantIDs := all[:min(store.DefaultListLimit, len(all))]
		got, _, err := rs.List(ctx, "", 0)
		if err != nil || !reflect.DeepEqual(recordIDs(got), wantIDs) {
			t.Errorf("List(\"\", 0) = %v, %v, want %v", recordIDs(got), err, wantIDs)
		}
	})

	t.Run("bad cursors", func(t *testing.T) {
		for _, c := range []string{"!!!", "bm9jb2xvbg", "eDpy", "MTIzOnt9"} { // "nocolon", "x:r", "123:{}"
			if _, _, err := rs.List(ctx, c, 10); !errors.Is(err, link.ErrBadCursor) {
				t.Errorf("List(%q) error = %v, want ErrBadCursor", c, err)
			}
		}
	})
}

func TestRecordsListEmpty(t *testing.T) { forEachBackend(t, recordsListEmpty) }

func recordsListEmpty(t *testing.T, rdb redis.UniversalClient) {
	got, next, err := store.NewRecords(rdb).List(context.Background(), "", 10)
	if err != nil || len(got) != 0 || next != "" {
		t.Errorf("List on an empty store = %v, %q, %v, want nothing", got, next, err)
	}
}

func TestRecordsTargetIndex(t *testing.T) { forEachBackend(t, recordsTargetIndex) }

func recordsTargetIndex(t *testing.T, rdb redis.UniversalClient) {
	ctx := context.Background()
	rs := store.NewRecords(rdb)
	const target = "https://www.aliexpress.com/store/1102"

	if id, ok, err := rs.IDForTarget(ctx, target); err != nil || ok {
		t.Fatalf("IDForTarget on an empty store = %q, %v, %v, want a miss", id, ok, err)
	}
	mustCreateRecord(t, ctx, rs, testRecord("a", target, recT0))
	check := func(id string, wantHolder string, wantOK bool) {
		t.Helper()
		holder, ok, err := rs.SetTargetID(ctx, target, id)
		if err != nil || holder != wantHolder || ok != wantOK {
			t.Errorf("SetTargetID(%q) = %q, %v, %v, want %q, %v", id, holder, ok, err, wantHolder, wantOK)
		}
	}
	check("a", "a", true)
	check("a", "a", true) // again: still a
	if id, ok, err := rs.IDForTarget(ctx, target); err != nil || !ok || id != "a" {
		t.Errorf("IDForTarget = %q, %v, %v, want a", id, ok, err)
	}
	keys, _ := rdb.Keys(ctx, "rd:v1:tgt:*").Result()
	if len(keys) != 1 || len(keys[0]) != len("rd:v1:tgt:")+32 {
		t.Errorf("index keys = %q, want one rd:v1:tgt:<32 hex digits>", keys)
	}

	mustCreateRecord(t, ctx, rs, testRecord("b", target, recT0))
	check("b", "a", false) // a holds the target

	if _, err := rs.Retarget(ctx, "a", "https://www.aliexpress.com/store/9", recT0.Add(time.Hour)); err != nil {
		t.Fatalf("Retarget(a): %v", err)
	}
	if id, ok, err := rs.IDForTarget(ctx, target); err != nil || ok {
		t.Errorf("IDForTarget after its link was retargeted = %q, %v, %v, want a miss", id, ok, err)
	}
	check("b", "b", true) // a no longer leads there: b takes over

	if err := rs.Delete(ctx, "b", recT0.Add(time.Hour)); err != nil {
		t.Fatalf("Delete(b): %v", err)
	}
	if id, ok, err := rs.IDForTarget(ctx, target); err != nil || ok {
		t.Errorf("IDForTarget after its link was deleted = %q, %v, %v, want a miss", id, ok, err)
	}
	mustCreateRecord(t, ctx, rs, testRecord("c", target, recT0))
	check("c", "c", true)

	t.Run("race", func(t *testing.T) {
		// Concurrent creations for one target: each makes its record, then all agree on one holder.
		const racers = 20
		const tgt = "https://www.aliexpress.com/store/77"
		holders := make([]string, racers)
		oks := make([]bool, racers)
		var wg sync.WaitGroup
		for i := range racers {
			id := fmt.Sprintf("race%d", i)
			mustCreateRecord(t, ctx, rs, testRecord(id, tgt, recT0))
			wg.Add(1)
			go func() {
				defer wg.Done()
				var err error
				holders[i], oks[i], err = rs.SetTargetID(ctx, tgt, id)
				if err != nil {
					t.Errorf("SetTargetID(%q): %v", id, err)
				}
			}()
		}
		wg.Wait()
		won := 0
		for i := range racers {
			if oks[i] {
				won++
			}
			if holders[i] != holders[0] {
				t.Errorf("racers disagree on the holder: %q and %q", holders[0], holders[i])
			}
		}
		if won != 1 {
			t.Errorf("%d racers got ok, want 1", won)
		}
		if id, ok, err := rs.IDForTarget(ctx, tgt); err != nil || !ok || id != holders[0] {
			t.Errorf("IDForTarget = %q, %v, %v, want %q", id, ok, err, holders[0])
		}
	})
}

func sortRecordsByID(rs []link.Record) []link.Record {
	sort.Slice(rs, func(i, j int) bool { return rs[i].ID < rs[j].ID })
	return rs
}

func exportRecords(t *testing.T, ctx context.Context, rs *store.Records) []link.Record {
	t.Helper()
	var out []link.Record
	if err := rs.Each(ctx, func(r link.Record) error { out = append(out, r); return nil }); err != nil {
		t.Fatalf("Each: %v", err)
	}
	return sortRecordsByID(out)
}

func TestRecordsExportImport(t *testing.T) { forEachBackend(t, recordsExportImport) }

// recordsExportImport backs a store up with Each and restores it with Put into the emptied store.
func recordsExportImport(t *testing.T, rdb redis.UniversalClient) {
	ctx := context.Background()
	rs := store.NewRecords(rdb)
	// More than one SCAN batch (of 500) on a redis-server; the embedded store answers a SCAN in one
	// batch whatever the size, and runs Lua slowly under -race, so it gets fewer.
	n := 600
	if isEmbedded(rdb) {
		n = 150
	}
	for i := range n {
		mustCreateRecord(t, ctx, rs, testRecord(fmt.Sprintf("id%04d", i), fmt.Sprintf("https://a.example/%d", i), recT0.Add(time.Duration(i)*time.Millisecond)))
	}
	if _, err := rs.Retarget(ctx, "id0007", "https://a.example/moved", recT0.Add(time.Hour)); err != nil {
		t.Fatalf("Retarget: %v", err)
	}
	if err := rs.Delete(ctx, "id0001", recT0.Add(time.Hour)); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	// Keys beside the records that Each must not take for records.
	if err := rdb.Set(ctx, "rd:v1:unrelated", "x", 0).Err(); err != nil {
		t.Fatalf("Set: %v", err)
	}
	if err := rdb.HSet(ctx, "rd:v1:{id0002}:n", "clicks", 3).Err(); err != nil {
		t.Fatalf("HSet: %v", err)
	}

	exported := exportRecords(t, ctx, rs)
	if len(exported) != n {
		t.Fatalf("Each gave %d records, want %d (tombstone included)", len(exported), n)
	}
	if r := exported[1]; !r.Deleted || r.ID != "id0001" {
		t.Errorf("Each gave %+v for id0001, want its tombstone", r)
	}
	if r := exported[7]; r.Target != "https://a.example/moved" || !r.Updated.Equal(recT0.Add(time.Hour)) {
		t.Errorf("Each gave %+v for id0007, want the retargeted record", r)
	}
	listed := recordIDs(listAll(t, ctx, rs, 500, nil))

	t.Run("fn error stops", func(t *testing.T) {
		stop := errors.New("stop")
		calls := 0
		err := rs.Each(ctx, func(link.Record) error { calls++; return stop })
		if !errors.Is(err, stop) || calls != 1 {
			t.Errorf("Each with a failing fn = %v after %d calls, want stop after 1", err, calls)
		}
	})

	t.Run("import twice", func(t *testing.T) {
		flushStore(t, rdb)
		for range 2 {
			for _, r := range exported {
				if err := rs.Put(ctx, r); err != nil {
					t.Fatalf("Put(%+v) = %v", r, err)
				}
			}
			if got := exportRecords(t, ctx, rs); !reflect.DeepEqual(got, exported) {
				t.Fatalf("after import, Each differs from the export")
			}
			if got := recordIDs(listAll(t, ctx, rs, 500, nil)); !reflect.DeepEqual(got, listed) {
				t.Fatalf("after import, List gives %d ids, want the %d listed before", len(got), len(listed))
			}
		}
	})

	t.Run("newer wins", func(t *testing.T) {
		flushStore(t, rdb)
		base := testRecord("x", "https://a.example/base", recT0)
		base.Updated = recT0.Add(time.Hour)
		older := base
		older.Target, older.Updated = "https://a.example/older", recT0.Add(time.Minute)
		same := base
		same.Target = "https://a.example/same-time"
		newer := base
		newer.Target, newer.Updated = "https://a.example/newer", recT0.Add(2*time.Hour)
		tomb := newer
		tomb.Deleted, tomb.Updated = true, recT0.Add(3*time.Hour)
		revived := tomb
		revived.Deleted, revived.Target, revived.Updated = false, "https://a.example/revived", recT0.Add(4*time.Hour)

		tests := []struct {
			name   string
			put    link.Record
			want   link.Record
			listed bool
		}{
			{"first", base, base, true},
			{"older loses", older, base, true},
			{"same updated keeps the stored one", same, base, true},
			{"newer wins", newer, newer, true},
			{"newer tombstone unlists", tomb, tomb, false},
			{"older live record does not revive", newer, tomb, false},
			{"newer live record revives", revived, revived, true},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				if err := rs.Put(ctx, tc.put); err != nil {
					t.Fatalf("Put(%+v) = %v", tc.put, err)
				}
				if got := mustGetRecord(t, ctx, rs, "x"); got != tc.want {
					t.Errorf("after Put(%+v), Get = %+v, want %+v", tc.put, got, tc.want)
				}
				page, _, err := rs.List(ctx, "", 10)
				if err != nil || (len(page) == 1) != tc.listed {
					t.Errorf("after Put(%+v), List = %v, %v, want listed %v", tc.put, recordIDs(page), err, tc.listed)
				}
			})
		}
	})
}

func TestRecordsDurable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := redistest.Start(t, redistest.Options{AppendOnly: true})
	rs := store.NewRecords(clientFor(t, srv))
	want := testRecord("printed", "https://www.aliexpress.com/store/5", recT0)
	mustCreateRecord(t, ctx, rs, want)

	srv.Restart(t)

	// The client reconnects on its own; a first command may meet the closed connection.
	var (
		got link.Record
		ok  bool
		err error
	)
	for range 3 {
		if got, ok, err = rs.Get(ctx, "printed"); err == nil {
			break
		}
	}
	if err != nil || !ok || got != want {
		t.Fatalf("after Restart, Get(printed) = %+v, %v, %v, want %+v", got, ok, err, want)
	}
	page, _, err := rs.List(ctx, "", 10)
	if err != nil || len(page) != 1 || page[0] != want {
		t.Errorf("after Restart, List = %+v, %v, want the record", page, err)
	}
}

func BenchmarkRecordsGet(b *testing.B) {
	ctx := context.Background()
	for _, be := range storeBackends() {
		b.Run(be.name, func(b *testing.B) {
			rs := store.NewRecords(be.open(b))
			mustCreateRecord(b, ctx, rs, testRecord("bench", "https://www.aliexpress.com/item/1005001234567890.html", recT0))
			b.ReportAllocs()
			for b.Loop() {
				if _, ok, err := rs.Get(ctx, "bench"); err != nil || !ok {
					b.Fatalf("Get = %v, %v", ok, err)
				}
			}
		})
	}
}

func TestRecordsTargetIndexOwned(t *testing.T) { forEachBackend(t, recordsTargetIndexOwned) }

// recordsTargetIndexOwned checks that an index entry does not outlive its owner: once the record it
// names stops leading to its target (retarget, delete, an import that changes or deletes it), the
// entry is gone; an entry naming another id is left alone.
func recordsTargetIndexOwned(t *testing.T, rdb redis.UniversalClient) {
	ctx := context.Background()
	rs := store.NewRecords(rdb)
	const other = "https://www.aliexpress.com/store/5"
	later := recT0.Add(time.Hour)
	tests := []struct {
		name   string
		change func(id string) error
		kept   bool // the entry stays
	}{
		{"retargeted", func(id string) error { _, err := rs.Retarget(ctx, id, other, later); return err }, false},
		{"retargeted to the same target", func(id string) error {
			_, err := rs.Retarget(ctx, id, "https://www.aliexpress.com/store/"+id, later)
			return err
		}, true},
		{"deleted", func(id string) error { return rs.Delete(ctx, id, later) }, false},
		{"imported with another target", func(id string) error { return rs.Put(ctx, testRecord(id, other, later)) }, false},
		{"imported as a tombstone", func(id string) error {
			r := testRecord(id, "https://www.aliexpress.com/store/"+id, later)
			r.Deleted = true
			return rs.Put(ctx, r)
		}, false},
		{"imported unchanged but newer", func(id string) error {
			return rs.Put(ctx, testRecord(id, "https://www.aliexpress.com/store/"+id, later))
		}, true},
		{"imported older: not applied", func(id string) error {
			return rs.Put(ctx, testRecord(id, other, recT0.Add(-time.Hour)))
		}, true},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id := fmt.Sprintf("own%d", i)
			target := "https://www.aliexpress.com/store/" + id
			mustCreateRecord(t, ctx, rs, testRecord(id, target, recT0))
			if _, ok, err := rs.SetTargetID(ctx, target, id); !ok || err != nil {
				t.Fatalf("SetTargetID(%s) = %v, %v", id, ok, err)
			}
			before, _ := rdb.Keys(ctx, "rd:v1:tgt:*").Result()
			if err := tc.change(id); err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			after, _ := rdb.Keys(ctx, "rd:v1:tgt:*").Result()
			if kept := len(after) == len(before); kept != tc.kept {
				t.Errorf("%s: index keys %d → %d, kept = %v, want %v", tc.name, len(before), len(after), kept, tc.kept)
			}
		})
	}
	t.Run("an entry naming another id stays", func(t *testing.T) {
		const target = "https://www.aliexpress.com/store/808"
		mustCreateRecord(t, ctx, rs, testRecord("holder", target, recT0))
		mustCreateRecord(t, ctx, rs, testRecord("second", target, recT0))
		if _, ok, err := rs.SetTargetID(ctx, target, "holder"); !ok || err != nil {
			t.Fatalf("SetTargetID(holder) = %v, %v", ok, err)
		}
		if err := rs.Delete(ctx, "second", later); err != nil {
			t.Fatalf("Delete(second): %v", err)
		}
		if id, ok, err := rs.IDForTarget(ctx, target); id != "holder" || !ok || err != nil {
			t.Errorf("IDForTarget after another link to the target was deleted = %q, %v, %v, want holder", id, ok, err)
		}
	})
}

// indexKey is the target index entry of target, as Records names it.
func indexKey(target string) string {
	sum := sha256.Sum256([]byte(target))
	return "rd:v1:tgt:" + hex.EncodeToString(sum[:16])
}

func TestRecordsCreateForTarget(t *testing.T) { forEachBackend(t, recordsCreateForTarget) }

func recordsCreateForTarget(t *testing.T, rdb redis.UniversalClient) {
	ctx := context.Background()
	rs := store.NewRecords(rdb)
	const elsewhere = "https://www.aliexpress.com/store/1"
	create := func(id, target string) (link.Record, bool) {
		t.Helper()
		got, created, err := rs.CreateForTarget(ctx, testRecord(id, target, recT0))
		if err != nil {
			t.Fatalf("CreateForTarget(%q, %q) = %v", id, target, err)
		}
		return got, created
	}
	check := func(what string, got link.Record, created bool, wantID string, wantCreated bool) {
		t.Helper()
		if got.ID != wantID || created != wantCreated {
			t.Errorf("%s: CreateForTarget = %q, created %v; want %q, created %v", what, got.ID, created, wantID, wantCreated)
		}
	}

	t.Run("first and again", func(t *testing.T) {
		const target = "https://www.aliexpress.com/w/wholesale-lamp.html"
		got, created := create("first1", target)
		check("new target", got, created, "first1", true)
		if want := testRecord("first1", target, recT0); !reflect.DeepEqual(got, want) {
			t.Errorf("CreateForTarget returned %+v, want %+v", got, want)
		}
		if r := mustGetRecord(t, ctx, rs, "first1"); r.Target != target || r.Deleted {
			t.Errorf("stored %+v, want a live record leading to %s", r, target)
		}
		got, created = create("second", target)
		check("same target again", got, created, "first1", false)
		if _, ok, _ := rs.Get(ctx, "second"); ok {
			t.Errorf("the second id was stored too, want only the first")
		}
	})

	t.Run("race", func(t *testing.T) {
		const racers = 20
		const target = "https://www.aliexpress.com/w/wholesale-raced.html"
		got := make([]link.Record, racers)
		created := make([]bool, racers)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range racers {
			wg.Go(func() {
				<-start
				var err error
				got[i], created[i], err = rs.CreateForTarget(ctx, testRecord(fmt.Sprintf("racer%d", i), target, recT0))
				if err != nil {
					t.Errorf("CreateForTarget(racer%d): %v", i, err)
				}
			})
		}
		close(start)
		wg.Wait()
		n := 0
		for i := range racers {
			if created[i] {
				n++
			}
			if got[i].ID != got[0].ID {
				t.Errorf("racers disagree: %q and %q", got[0].ID, got[i].ID)
			}
		}
		if n != 1 {
			t.Errorf("%d racers got created, want 1", n)
		}
		stored := 0
		for _, r := range exportRecords(t, ctx, rs) {
			if r.Target == target {
				stored++
			}
		}
		if stored != 1 {
			t.Errorf("%d records lead to %s, want 1", stored, target)
		}
	})

	t.Run("claim without a record", func(t *testing.T) {
		// A claimer that died between its claim and its record: the next call completes the claim.
		const target = "https://www.aliexpress.com/w/wholesale-ghost.html"
		if err := rdb.Set(ctx, indexKey(target), "ghost1", 0).Err(); err != nil {
			t.Fatal(err)
		}
		got, created := create("later1", target)
		check("claimed, unwritten", got, created, "ghost1", true)
		if r := mustGetRecord(t, ctx, rs, "ghost1"); r.Target != target {
			t.Errorf("stored %+v, want it to lead to %s", r, target)
		}
		got, created = create("later2", target)
		check("after the completion", got, created, "ghost1", false)
	})

	stale := []struct {
		name   string
		holder string
		make   func(holder, target string)
	}{
		{"deleted", "deleted1", func(holder, target string) {
			mustCreateRecord(t, ctx, rs, testRecord(holder, target, recT0))
			if err := rs.Delete(ctx, holder, recT0.Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
		}},
		{"retargeted", "moved1", func(holder, target string) {
			mustCreateRecord(t, ctx, rs, testRecord(holder, target, recT0))
			if _, err := rs.Retarget(ctx, holder, elsewhere, recT0.Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
		}},
		{"not an id", "a{b}", func(string, string) {}},
	}
	for _, tc := range stale {
		t.Run("stale holder "+tc.name, func(t *testing.T) {
			target := "https://www.aliexpress.com/w/wholesale-" + tc.name + ".html"
			tc.make(tc.holder, target)
			if err := rdb.Set(ctx, indexKey(target), tc.holder, 0).Err(); err != nil {
				t.Fatal(err)
			}
			got, created := create("fresh-"+tc.name, target)
			check("stale holder "+tc.holder, got, created, "fresh-"+tc.name, true)
			if id, err := rdb.Get(ctx, indexKey(target)).Result(); err != nil || id != "fresh-"+tc.name {
				t.Errorf("index entry = %q, %v, want %q", id, err, "fresh-"+tc.name)
			}
		})
	}

	t.Run("id taken", func(t *testing.T) {
		mustCreateRecord(t, ctx, rs, testRecord("taken1", elsewhere, recT0))
		mustCreateRecord(t, ctx, rs, testRecord("buried", elsewhere+"2", recT0))
		if err := rs.Delete(ctx, "buried", recT0.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		const target = "https://www.aliexpress.com/w/wholesale-taken.html"
		for _, id := range []string{"taken1", "buried"} {
			if _, _, err := rs.CreateForTarget(ctx, testRecord(id, target, recT0)); !errors.Is(err, link.ErrExists) {
				t.Errorf("CreateForTarget(%q, taken by another record) = %v, want ErrExists", id, err)
			}
			if n, err := rdb.Exists(ctx, indexKey(target)).Result(); err != nil || n != 0 {
				t.Errorf("index entry after a collision on %q: exists %d, %v, want released", id, n, err)
			}
		}
		if r := mustGetRecord(t, ctx, rs, "buried"); !r.Deleted || r.Target != elsewhere+"2" {
			t.Errorf("a deleted id was revived: %+v", r)
		}
		got, created := create("untaken", target)
		check("after collisions", got, created, "untaken", true)
	})

	for _, rec := range []link.Record{testRecord("", "https://a.example/", recT0), testRecord("a", "", recT0), testRecord("a{b}", "https://a.example/", recT0)} {
		if _, _, err := rs.CreateForTarget(ctx, rec); err == nil {
			t.Errorf("CreateForTarget(%+v) = nil error, want one", rec)
		}
	}
}
