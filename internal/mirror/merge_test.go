package mirror

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/redirector/redirector/internal/link"
)

// TestSyncKeepsNewerRefresh checks the race a full copy has with refreshes: a batch read before a
// change and written after the change's refresh must not put the old version back; and a full copy
// does replace an older generation's copy even when the store's is older (the store went back in
// time, as after a failover that lost writes).
func TestSyncKeepsNewerRefresh(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m, err := Open(filepath.Join(t.TempDir(), "mirror.db"), Options{Pause: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	old := link.Record{ID: "x", Target: "https://www.aliexpress.com/item/1.html", Created: t0, Updated: t0}
	newer := old
	newer.Target, newer.Updated = "https://www.aliexpress.com/item/2.html", t0.Add(time.Second)
	src := &fakeSource{records: map[string]link.Record{"x": newer}, batches: [][]link.Record{{old}}}
	// The refresh of the newer version lands while the copy is under way, before its batch is written.
	src.beforeBatch = func() {
		if err := m.refresh(ctx, src, []string{"x"}); err != nil {
			t.Errorf("refresh: %v", err)
		}
	}
	if _, err := m.Sync(ctx, src); err != nil {
		t.Fatal(err)
	}
	if rec, ok, err := m.Record("x"); err != nil || !ok || rec.Target != newer.Target {
		t.Fatalf("after a copy racing a refresh: Record(x) = %+v, %v, %v; want target %s", rec, ok, err, newer.Target)
	}

	// The next copy, with no refresh racing it, follows the store back to the old version.
	src.beforeBatch = nil
	if _, err := m.Sync(ctx, src); err != nil {
		t.Fatal(err)
	}
	if rec, ok, err := m.Record("x"); err != nil || !ok || rec.Target != old.Target {
		t.Fatalf("after a later copy: Record(x) = %+v, %v, %v; want target %s", rec, ok, err, old.Target)
	}
}

// fakeSource serves records from a map and full copies from batches.
type fakeSource struct {
	records     map[string]link.Record
	batches     [][]link.Record
	beforeBatch func()
}

func (f *fakeSource) Get(_ context.Context, id string) (link.Record, bool, error) {
	rec, ok := f.records[id]
	return rec, ok, nil
}

func (f *fakeSource) Exist(_ context.Context, ids []string) ([]bool, error) {
	out := make([]bool, len(ids))
	for i, id := range ids {
		_, out[i] = f.records[id]
	}
	return out, nil
}

func (f *fakeSource) Batches(_ context.Context, fn func([]link.Record) error) error {
	for _, b := range f.batches {
		if f.beforeBatch != nil {
			f.beforeBatch()
		}
		if err := fn(b); err != nil {
			return err
		}
	}
	return nil
}
