package shortlink_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redirector/redirector/internal/link"
	"github.com/redirector/redirector/internal/shortid"
	"github.com/redirector/redirector/internal/shortlink"
)

// fakeMirror is a mirror held in a map.
type fakeMirror struct {
	records  map[string]link.Record
	complete bool
}

func (m *fakeMirror) Record(id string) (link.Record, bool, error) {
	rec, ok := m.records[id]
	return rec, ok, nil
}

func (m *fakeMirror) Complete() bool { return m.complete }

// TestMirrorAnswersWhenStoreFails checks what a lookup answers from the mirror while the store is
// stalled, with nothing in the first tier (a process just restarted): a live record leads to its
// target and is Recorded (its clicks count), a tombstone is no link even for a product code (the
// issue-14 bug: a deleted product code came back to its product), a retargeted product code leads
// to its new target, and a record the mirror refuses is no link. Without the record, a product code
// resolves from its id (not Recorded), and anything else is no link without an error when the mirror
// is complete, or an error when it is not. Every lookup with an answer at hand gives the store
// StoreTimeout only.
func TestMirrorAnswersWhenStoreFails(t *testing.T) {
	t.Parallel()
	code, _ := shortid.Product(productID)
	deletedCode, _ := shortid.Product("1005009999999999")
	const movedTarget = "https://www.aliexpress.com/item/1005000000000042.html"
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	records := map[string]link.Record{
		"live-slug":  {ID: "live-slug", Target: storeTarget, Created: t0, Updated: t0},
		code:         {ID: code, Target: movedTarget, Created: t0, Updated: t0},
		deletedCode:  {ID: deletedCode, Target: "https://www.aliexpress.com/item/1005009999999999.html", Created: t0, Updated: t0, Deleted: true},
		"gone-slug":  {ID: "gone-slug", Target: storeTarget, Created: t0, Updated: t0, Deleted: true},
		"evil-slug":  {ID: "evil-slug", Target: "https://evil.example/phish", Created: t0, Updated: t0},
		"share-slug": {ID: "share-slug", Target: "https://a.aliexpress.com/_mKz1234", Created: t0, Updated: t0},
	}
	otherCode, _ := shortid.Product("1005001111111111")
	tests := []struct {
		name     string
		complete bool
		id       string
		want     string
		recorded bool
		err      bool
		bounded  bool
	}{
		{"live slug", true, "live-slug", storeTarget, true, false, true},
		{"retargeted product code", true, code, movedTarget, true, false, true},
		{"deleted product code", true, deletedCode, "", false, false, true},
		{"deleted slug", true, "gone-slug", "", false, false, true},
		{"refused target", true, "evil-slug", "", false, false, true},
		{"share link target", true, "share-slug", "", false, false, true},
		{"product code not in the mirror", true, otherCode, "https://www.aliexpress.com/item/1005001111111111.html", false, false, true},
		{"unknown id, complete mirror", true, "aZ3kP9qX", "", false, false, true},
		{"unknown id, mirror not yet complete", false, "aZ3kP9qX", "", false, true, false},
		{"live slug, mirror not yet complete", false, "live-slug", storeTarget, true, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			store := &stallingStore{stalled: true}
			l := shortlink.New(store, shortlink.Options{StoreTimeout: 50 * time.Millisecond,
				Mirror: &fakeMirror{records: records, complete: tc.complete}})
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			caller, _ := ctx.Deadline()
			got, ok, err := l.Link(ctx, tc.id)
			if got.Target != tc.want || ok != (tc.want != "") || got.Recorded != tc.recorded || (err != nil) != tc.err {
				t.Errorf("Link(%q) with the store stalled = %+v, %v, %v; want %q recorded %v, error %v", tc.id, got, ok, err, tc.want, tc.recorded, tc.err)
			}
			if bounded := store.lastDeadline().Before(caller); bounded != tc.bounded {
				t.Errorf("Link(%q): store deadline %v, caller's %v: bounded = %v, want %v", tc.id, store.lastDeadline(), caller, bounded, tc.bounded)
			}
		})
	}
}

// TestStoreWinsOverMirror checks that the mirror is not asked while the store answers: a record the
// mirror has as live but the store has as deleted is no link.
func TestStoreWinsOverMirror(t *testing.T) {
	t.Parallel()
	store := &answeringStore{records: map[string]link.Record{"slug": {ID: "slug", Target: storeTarget, Deleted: true}}}
	l := shortlink.New(store, shortlink.Options{Mirror: &fakeMirror{complete: true, records: map[string]link.Record{
		"slug": {ID: "slug", Target: storeTarget},
	}}})
	if got, ok, err := l.Link(context.Background(), "slug"); ok || err != nil {
		t.Errorf("Link(slug) = %+v, %v, %v; want no link (the store's tombstone)", got, ok, err)
	}
}

type answeringStore struct{ records map[string]link.Record }

func (s *answeringStore) Get(_ context.Context, id string) (link.Record, bool, error) {
	if id == "" {
		return link.Record{}, false, errors.New("empty id")
	}
	rec, ok := s.records[id]
	return rec, ok, nil
}
