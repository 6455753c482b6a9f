package mirror_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redirector/redirector/internal/clocktest"
	"github.com/redirector/redirector/internal/link"
	"github.com/redirector/redirector/internal/mirror"
	"github.com/redirector/redirector/internal/redistest"
	"github.com/redirector/redirector/internal/store"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// newRecords returns Records over a fresh redis-server of the test's own, and its client.
func newRecords(t testing.TB) (*store.Records, redis.UniversalClient) {
	t.Helper()
	rs := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr})
	t.Cleanup(func() { _ = rdb.Close() })
	return store.NewRecords(rdb), rdb
}

func open(t testing.TB, path string, opts mirror.Options) *mirror.Mirror {
	t.Helper()
	m, err := mirror.Open(path, opts)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	t.Cleanup(func() { _ = m.Close() })
	return m
}

func mustCreate(t testing.TB, r *store.Records, id, target string) {
	t.Helper()
	if err := r.Create(context.Background(), link.Record{ID: id, Target: target, Created: t0}); err != nil {
		t.Fatalf("Create(%s): %v", id, err)
	}
}

// want checks what the mirror holds for id: target "" means no record, "-" a tombstone.
func want(t *testing.T, m *mirror.Mirror, id, target string) {
	t.Helper()
	rec, ok, err := m.Record(id)
	got := "(none)"
	switch {
	case err != nil:
		t.Fatalf("Record(%s): %v", id, err)
	case ok && rec.Deleted:
		got = "-"
	case ok:
		got = rec.Target
	}
	if target == "" {
		target = "(none)"
	}
	if got != target {
		t.Errorf("Record(%s) = %q, want %q", id, got, target)
	}
}

// TestSyncCopiesAndHeals checks a full copy: live records, tombstones and retargets are copied, a
// second copy follows the store's changes (also changes no announcement told of), and drops the
// records that left the store; the copy survives the file being closed and opened again.
func TestSyncCopiesAndHeals(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r, rdb := newRecords(t)
	path := filepath.Join(t.TempDir(), "mirror.db")
	m := open(t, path, mirror.Options{Pause: -1})
	if m.Complete() {
		t.Fatalf("a new mirror is Complete before any copy")
	}
	mustCreate(t, r, "live", "https://www.aliexpress.com/item/1.html")
	mustCreate(t, r, "moved", "https://www.aliexpress.com/item/2.html")
	mustCreate(t, r, "gone", "https://www.aliexpress.com/item/3.html")
	mustCreate(t, r, "purged", "https://www.aliexpress.com/item/4.html")
	if _, err := r.Retarget(ctx, "moved", "https://www.aliexpress.com/item/22.html", t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := r.Delete(ctx, "gone", t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	n, err := m.Sync(ctx, r)
	if err != nil || n != 4 {
		t.Fatalf("Sync = %d, %v; want 4, nil", n, err)
	}
	if !m.Complete() {
		t.Errorf("Complete() = false after a full copy")
	}
	want(t, m, "live", "https://www.aliexpress.com/item/1.html")
	want(t, m, "moved", "https://www.aliexpress.com/item/22.html")
	want(t, m, "gone", "-")
	want(t, m, "purged", "https://www.aliexpress.com/item/4.html")
	want(t, m, "never", "")

	// Changes no announcement told of, and a record removed from the store entirely.
	if err := r.Delete(ctx, "live", t0.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Retarget(ctx, "moved", "https://www.aliexpress.com/item/222.html", t0.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	rdb.Del(ctx, "rd:v1:{purged}:rec")
	if n, err := m.Sync(ctx, r); err != nil || n != 3 {
		t.Fatalf("second Sync = %d, %v; want 3, nil", n, err)
	}
	want(t, m, "live", "-")
	want(t, m, "moved", "https://www.aliexpress.com/item/222.html")
	want(t, m, "purged", "")

	// The file is kept: opened again, it answers at once and knows it was complete.
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	m2 := open(t, path, mirror.Options{})
	if !m2.Complete() {
		t.Errorf("reopened mirror: Complete() = false, want true")
	}
	want(t, m2, "moved", "https://www.aliexpress.com/item/222.html")
	want(t, m2, "gone", "-")
}

// TestOpenLocked checks that a second Open of one file (two processes on one DATA_DIR) is refused
// with ErrLocked, and that the file opens again once the first is closed.
func TestOpenLocked(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "mirror.db")
	m := open(t, path, mirror.Options{})
	_, err := mirror.Open(path, mirror.Options{})
	if !errors.Is(err, mirror.ErrLocked) {
		t.Fatalf("second Open(%s) = %v, want ErrLocked", path, err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	open(t, path, mirror.Options{})
}

// TestChangedRefreshes checks that Start copies the store and that each id told to Changed is read
// again: a create, a retarget and a delete reach the mirror without a full copy (Resync is long).
func TestChangedRefreshes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r, _ := newRecords(t)
	mustCreate(t, r, "before", "https://www.aliexpress.com/item/1.html")
	m := open(t, filepath.Join(t.TempDir(), "mirror.db"), mirror.Options{Resync: time.Hour})
	m.Start(ctx, r)
	clocktest.WaitFor(t, "the first full copy", m.Complete)
	want(t, m, "before", "https://www.aliexpress.com/item/1.html")

	steps := []struct {
		name   string
		change func() error
		id     string
		want   string
	}{
		{"create", func() error {
			return r.Create(ctx, link.Record{ID: "new", Target: "https://www.aliexpress.com/item/5.html", Created: t0})
		}, "new", "https://www.aliexpress.com/item/5.html"},
		{"retarget", func() error {
			_, err := r.Retarget(ctx, "before", "https://www.aliexpress.com/item/6.html", t0.Add(time.Minute))
			return err
		}, "before", "https://www.aliexpress.com/item/6.html"},
		{"delete", func() error { return r.Delete(ctx, "new", t0.Add(time.Minute)) }, "new", "-"},
	}
	for _, s := range steps {
		if err := s.change(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		m.Changed(s.id)
		clocktest.WaitFor(t, s.name+" reaches the mirror", func() bool {
			rec, ok, _ := m.Record(s.id)
			return ok && ((s.want == "-" && rec.Deleted) || (!rec.Deleted && rec.Target == s.want))
		})
	}
}
