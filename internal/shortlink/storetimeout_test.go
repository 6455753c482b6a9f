package shortlink_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/redirector/redirector/internal/clocktest"
	"github.com/redirector/redirector/internal/link"
	"github.com/redirector/redirector/internal/shortid"
	"github.com/redirector/redirector/internal/shortlink"
)

// stallingStore answers "known" until stalled; stalled, it notes each lookup's deadline and waits
// for the context to end, unless the deadline is further than a while off, when it fails at once
// (so a test of an unbounded lookup does not wait for it).
type stallingStore struct {
	mu       sync.Mutex // guards stalled and deadline
	stalled  bool
	deadline time.Time
}

func (s *stallingStore) Get(ctx context.Context, id string) (link.Record, bool, error) {
	s.mu.Lock()
	stalled := s.stalled
	s.deadline, _ = ctx.Deadline()
	s.mu.Unlock()
	if !stalled {
		if id == "known" {
			return link.Record{ID: id, Target: storeTarget}, true, nil
		}
		return link.Record{}, false, nil
	}
	if d, ok := ctx.Deadline(); !ok || time.Until(d) > 10*time.Second {
		return link.Record{}, false, errors.New("store stalled")
	}
	<-ctx.Done()
	return link.Record{}, false, ctx.Err()
}

func (s *stallingStore) lastDeadline() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.deadline
}

func TestStoreTimeoutBoundsLookupsThatHaveAnAnswer(t *testing.T) {
	t.Parallel()
	store := &stallingStore{}
	clk := clocktest.New(time.Now())
	l := shortlink.New(store, shortlink.Options{Fresh: time.Minute, StoreTimeout: 50 * time.Millisecond, Now: clk.Now})
	if _, ok, err := l.Target(context.Background(), "known"); !ok || err != nil {
		t.Fatalf("Target(known) = %v, %v; want found", ok, err)
	}
	store.mu.Lock()
	store.stalled = true
	store.mu.Unlock()
	clk.Advance(2 * time.Minute) // past Fresh: the store is asked
	code, _ := shortid.Product(productID)
	tests := []struct {
		name, id, want string
		ok, err        bool
		bounded        bool // the store was given StoreTimeout, not the caller's deadline
	}{
		{"seen before: stale after StoreTimeout", "known", storeTarget, true, false, true},
		{"product code: from the id after StoreTimeout", code, productTarget, true, false, true},
		{"never seen: the caller's deadline", "aZ3kP9qX", "", false, true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			caller, _ := ctx.Deadline()
			got, ok, err := l.Target(ctx, tc.id)
			if got != tc.want || ok != tc.ok || (err != nil) != tc.err {
				t.Errorf("Target(%q) with the store stalled = %q, %v, %v; want %q, %v, error %v", tc.id, got, ok, err, tc.want, tc.ok, tc.err)
			}
			if bounded := store.lastDeadline().Before(caller); bounded != tc.bounded {
				t.Errorf("Target(%q): store lookup deadline %v, caller's %v: bounded = %v, want %v", tc.id, store.lastDeadline(), caller, bounded, tc.bounded)
			}
		})
	}
}
