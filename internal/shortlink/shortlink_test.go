package shortlink_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redirector/redirector/internal/clocktest"
	"github.com/redirector/redirector/internal/link"
	"github.com/redirector/redirector/internal/redistest"
	"github.com/redirector/redirector/internal/shortid"
	"github.com/redirector/redirector/internal/shortlink"
	"github.com/redirector/redirector/internal/store"
)

const (
	productID     = "1005001234567890"
	productTarget = "https://www.aliexpress.com/item/" + productID + ".html"
	storeTarget   = "https://www.aliexpress.com/store/1234"
)

func setup(t *testing.T) (*shortlink.Lookup, *store.Records, *redistest.Server, *clocktest.Clock) {
	t.Helper()
	srv := redistest.Start(t)
	rdb, err := store.Connect(context.Background(), srv.URL, store.ConnectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rdb.Close() })
	records := store.NewRecords(rdb)
	clk := clocktest.New(time.Now())
	return shortlink.New(records, shortlink.Options{Fresh: time.Minute, Now: clk.Now}), records, srv, clk
}

func target(t *testing.T, l *shortlink.Lookup, id string) (string, bool, error) {
	t.Helper()
	return l.Target(context.Background(), id)
}

func TestTargetFromRecordAndProductCode(t *testing.T) {
	t.Parallel()
	l, records, _, _ := setup(t)
	ctx := context.Background()
	code, err := shortid.Product(productID)
	if err != nil {
		t.Fatal(err)
	}
	if err := records.Create(ctx, link.Record{ID: "spring-store", Target: storeTarget}); err != nil {
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
	t.Parallel()
	l, records, _, _ := setup(t)
	ctx := context.Background()
	code, _ := shortid.Product(productID)
	if err := records.Create(ctx, link.Record{ID: code, Target: productTarget}); err != nil {
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
	t.Parallel()
	l, records, _, _ := setup(t)
	ctx := context.Background()
	if err := records.Create(ctx, link.Record{ID: "lamp", Target: storeTarget}); err != nil {
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
	t.Parallel()
	l, records, _, clk := setup(t)
	ctx := context.Background()
	if _, ok, _ := target(t, l, "late"); ok {
		t.Fatal("Target of a missing slug: ok=true")
	}
	// Another replica creates it; this one sees it once its negative entry is no longer fresh.
	if err := records.Create(ctx, link.Record{ID: "late", Target: storeTarget}); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := target(t, l, "late"); ok {
		t.Error("Target within Fresh of a negative entry: ok=true, want the cached miss")
	}
	clk.Advance(2 * time.Minute)
	if got, ok, _ := target(t, l, "late"); !ok || got != storeTarget {
		t.Errorf("Target after Fresh = %q, %v; want %q, true", got, ok, storeTarget)
	}
}

func TestStoreDownServesWhatItKnows(t *testing.T) {
	t.Parallel()
	l, records, srv, clk := setup(t)
	ctx := context.Background()
	if err := records.Create(ctx, link.Record{ID: "known", Target: storeTarget}); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := target(t, l, "known"); !ok {
		t.Fatal("Target(known) not found")
	}
	srv.Kill()
	clk.Advance(2 * time.Minute) // past Fresh: the store is asked, and fails
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
	rdb, err := store.Connect(context.Background(), srv.URL, store.ConnectOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer rdb.Close()
	records := store.NewRecords(rdb)
	if err := records.Create(context.Background(), link.Record{ID: "lamp", Target: storeTarget}); err != nil {
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

func TestLinkSaysWhetherARecordBacksIt(t *testing.T) {
	t.Parallel()
	l, records, srv, clk := setup(t)
	ctx := context.Background()
	code, _ := shortid.Product(productID)
	other, _ := shortid.Product("1005009999999999")
	recorded, _ := shortid.Product("1005001111111111")
	if err := records.Create(ctx, link.Record{ID: "spring-store", Target: storeTarget}); err != nil {
		t.Fatal(err)
	}
	if err := records.Create(ctx, link.Record{ID: recorded, Target: productTarget}); err != nil {
		t.Fatal(err)
	}
	check := func(name, id string, want shortlink.Link) {
		t.Helper()
		got, ok, err := l.Link(ctx, id)
		if err != nil || !ok || got != want {
			t.Errorf("%s: Link(%q) = %+v, %v, %v; want %+v, true, nil", name, id, got, ok, err, want)
		}
	}
	check("slug record", "spring-store", shortlink.Link{Target: storeTarget, Recorded: true})
	check("product code with a record", recorded, shortlink.Link{Target: productTarget, Recorded: true})
	check("product code without a record", code, shortlink.Link{Target: productTarget})
	check("first-tier hit", "spring-store", shortlink.Link{Target: storeTarget, Recorded: true})

	srv.Kill()
	clk.Advance(2 * time.Minute) // past Fresh: the store is asked, and fails
	check("store down, seen with a record", "spring-store", shortlink.Link{Target: storeTarget, Recorded: true})
	check("store down, seen without a record", code, shortlink.Link{Target: productTarget})
	check("store down, never seen product code: from the id alone", other,
		shortlink.Link{Target: "https://www.aliexpress.com/item/1005009999999999.html"})
}

// count is a metric that counts Inc calls.
type count struct{ n atomic.Int64 }

func (c *count) Inc() { c.n.Add(1) }

func TestStoredTargetsAreChecked(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	ctx := context.Background()
	rdb, err := store.Connect(ctx, srv.URL, store.ConnectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rdb.Close() })
	var logs bytes.Buffer
	var rejected count
	clk := clocktest.New(time.Now())
	l := shortlink.New(store.NewRecords(rdb), shortlink.Options{
		Fresh: time.Minute, Now: clk.Now, Rejected: &rejected,
		Logger: slog.New(slog.NewJSONHandler(&logs, nil)),
	})
	code, _ := shortid.Product(productID)
	tests := []struct {
		name, id, stored string
		want             string // "": refused
	}{
		{"another site", "evil", "https://evil.example/phish", ""},
		{"javascript", "js", "javascript:alert(1)", ""},
		{"scheme-relative", "slashes", "//evil.example", ""},
		{"look-alike host", "lookalike", "https://aliexpress.com.evil.example/item/1.html", ""},
		{"share link, never a destination", "share", "https://a.aliexpress.com/_mK8rT2q", ""},
		{"empty", "empty", "", ""},
		{"poisoned product code: not the product", code, "https://evil.example/", ""},
		{"canonical page", "good", storeTarget, storeTarget},
		{"non-canonical page: answered canonical", "noisy", "https://m.aliexpress.com/item/" + productID + ".html?spm=x", productTarget},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Written the way store/records.go lays records out.
			if err := rdb.HSet(ctx, "rd:v1:{"+tc.id+"}:rec", "target", tc.stored, "created", "1700000000000", "updated", "1700000000000").Err(); err != nil {
				t.Fatal(err)
			}
			logs.Reset()
			before := rejected.n.Load()
			for range 3 { // checked once, when it enters the first tier
				got, ok, err := l.Link(ctx, tc.id)
				if err != nil || ok != (tc.want != "") || got.Target != tc.want || got.Recorded != (tc.want != "") {
					t.Fatalf("Link(%q) with target %q stored = %+v, %v, %v; want target %q", tc.id, tc.stored, got, ok, err, tc.want)
				}
			}
			wantRejected := int64(0)
			if tc.want == "" {
				wantRejected = 1
			}
			if got := rejected.n.Load() - before; got != wantRejected {
				t.Errorf("Link(%q) ×3: rejected counted %d times, want %d", tc.id, got, wantRejected)
			}
			lines := strings.Count(logs.String(), "\n")
			if lines != int(wantRejected) {
				t.Errorf("Link(%q) ×3: %d log lines %q, want %d", tc.id, lines, logs.String(), wantRejected)
			}
			if wantRejected == 1 && (!strings.Contains(logs.String(), `"level":"WARN"`) || !strings.Contains(logs.String(), `"id":"`+tc.id+`"`)) {
				t.Errorf("Link(%q): log %q, want a warning naming the id", tc.id, logs.String())
			}
			if tc.stored != "" && strings.Contains(logs.String(), tc.stored) {
				t.Errorf("Link(%q): log %q repeats the stored target", tc.id, logs.String())
			}
		})
	}
}
