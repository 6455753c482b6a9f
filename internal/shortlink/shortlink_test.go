package shortlink_test

import (
	"context"
	"testing"
	"time"

	"github.com/redirector/redirector/internal/cache"
	"github.com/redirector/redirector/internal/redistest"
	"github.com/redirector/redirector/internal/shortid"
	"github.com/redirector/redirector/internal/shortlink"
)

const (
	productID     = "1005001234567890"
	productTarget = "https://www.aliexpress.com/item/" + productID + ".html"
	storeTarget   = "https://www.aliexpress.com/store/1234"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func setup(t *testing.T) (*shortlink.Lookup, *cache.Records, *redistest.Server, *clock) {
	t.Helper()
	srv := redistest.Start(t)
	rdb, err := cache.Connect(context.Background(), srv.URL, cache.ConnectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rdb.Close() })
	records := cache.NewRecords(rdb)
	clk := &clock{t: time.Now()}
	return shortlink.New(records, shortlink.Options{Fresh: time.Minute, Now: clk.now}), records, srv, clk
}

func target(t *testing.T, l *shortlink.Lookup, id string) (string, bool, error) {
	t.Helper()
	return l.Target(context.Background(), id)
}

func TestTargetFromRecordAndProductCode(t *testing.T) {
	l, records, _, _ := setup(t)
	ctx := context.Background()
	code, err := shortid.Product(productID)
	if err != nil {
		t.Fatal(err)
	}
	if err := records.Create(ctx, cache.Record{ID: "spring-store", Target: storeTarget}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, id, want string
		ok             bool
	}{
		{"slug record", "spring-store", storeTarget, true},
		{"product code without a record", code, productTarget, true},
		{"unknown random id", "aZ3kP9qX", "", false},
		{"mistyped product code", code[:len(code)-1] + "Z", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok, err := target(t, l, tc.id)
			if err != nil || ok != tc.ok || got != tc.want {
				t.Errorf("Target(%q) = %q, %v, %v; want %q, %v, nil", tc.id, got, ok, err, tc.want, tc.ok)
			}
		})
	}
}

func TestDeletedProductCodeStaysDeleted(t *testing.T) {
	l, records, _, _ := setup(t)
	ctx := context.Background()
	code, _ := shortid.Product(productID)
	if err := records.Create(ctx, cache.Record{ID: code, Target: productTarget}); err != nil {
		t.Fatal(err)
	}
	if err := records.Delete(ctx, code, time.Now()); err != nil {
		t.Fatal(err)
	}
	if got, ok, err := target(t, l, code); ok || err != nil {
		t.Errorf("Target(deleted product code) = %q, %v, %v; want not found", got, ok, err)
	}
}

func TestRetargetSeenAfterForget(t *testing.T) {
	l, records, _, _ := setup(t)
	ctx := context.Background()
	if err := records.Create(ctx, cache.Record{ID: "lamp", Target: storeTarget}); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := target(t, l, "lamp"); got != storeTarget {
		t.Fatalf("Target = %q, want %q", got, storeTarget)
	}
	if _, err := records.Retarget(ctx, "lamp", productTarget, time.Now()); err != nil {
		t.Fatal(err)
	}
	// Within Fresh the first tier still answers the old target, until Forget.
	if got, _, _ := target(t, l, "lamp"); got != storeTarget {
		t.Errorf("Target within Fresh = %q, want the cached %q", got, storeTarget)
	}
	l.Forget("lamp")
	if got, _, _ := target(t, l, "lamp"); got != productTarget {
		t.Errorf("Target after Forget = %q, want %q", got, productTarget)
	}
}

func TestFreshBoundsTheFirstTier(t *testing.T) {
	l, records, _, clk := setup(t)
	ctx := context.Background()
	if _, ok, _ := target(t, l, "late"); ok {
		t.Fatal("Target of a missing slug: ok=true")
	}
	// Another replica creates it; this one sees it once its negative entry is no longer fresh.
	if err := records.Create(ctx, cache.Record{ID: "late", Target: storeTarget}); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := target(t, l, "late"); ok {
		t.Error("Target within Fresh of a negative entry: ok=true, want the cached miss")
	}
	clk.t = clk.t.Add(2 * time.Minute)
	if got, ok, _ := target(t, l, "late"); !ok || got != storeTarget {
		t.Errorf("Target after Fresh = %q, %v; want %q, true", got, ok, storeTarget)
	}
}

func TestStoreDownServesWhatItKnows(t *testing.T) {
	l, records, srv, clk := setup(t)
	ctx := context.Background()
	if err := records.Create(ctx, cache.Record{ID: "known", Target: storeTarget}); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := target(t, l, "known"); !ok {
		t.Fatal("Target(known) not found")
	}
	srv.Kill()
	clk.t = clk.t.Add(2 * time.Minute) // past Fresh: the store is asked, and fails
	code, _ := shortid.Product(productID)
	tests := []struct {
		name, id, want string
		ok, err        bool
	}{
		{"seen before: served stale", "known", storeTarget, true, false},
		{"product code: from the id alone", code, productTarget, true, false},
		{"never seen random id: an error", "aZ3kP9qX", "", false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok, err := target(t, l, tc.id)
			if got != tc.want || ok != tc.ok || (err != nil) != tc.err {
				t.Errorf("Target(%q) with the store down = %q, %v, %v; want %q, %v, error %v", tc.id, got, ok, err, tc.want, tc.ok, tc.err)
			}
		})
	}
}

func BenchmarkTargetCached(b *testing.B) {
	srv := redistest.Start(b)
	rdb, err := cache.Connect(context.Background(), srv.URL, cache.ConnectOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer rdb.Close()
	records := cache.NewRecords(rdb)
	if err := records.Create(context.Background(), cache.Record{ID: "lamp", Target: storeTarget}); err != nil {
		b.Fatal(err)
	}
	l := shortlink.New(records, shortlink.Options{})
	ctx := context.Background()
	if _, ok, _ := l.Target(ctx, "lamp"); !ok {
		b.Fatal("not found")
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, ok, _ := l.Target(ctx, "lamp"); !ok {
			b.Fatal("not found")
		}
	}
}
