package apikey

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/redirector/redirector/internal/clocktest"
	"github.com/redirector/redirector/internal/redistest"
	"github.com/redirector/redirector/internal/store"
)

func newStore(t *testing.T) *Store {
	t.Helper()
	srv := redistest.Start(t)
	rdb, err := store.Connect(context.Background(), srv.URL, store.ConnectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rdb.Close() })
	return NewStore(rdb, nil)
}

func TestParse(t *testing.T) {
	token, id, _ := newToken()
	tests := []struct {
		name, token string
		ok          bool
	}{
		{"drawn", token, true},
		{"admin token", "test-admin-token", false},
		{"short", token[:len(token)-1], false},
		{"upper-case id", "rdk_" + strings.ToUpper(id) + token[len(prefix)+idLen:], false},
		{"bad base64", token[:len(token)-1] + "!", false},
		{"other prefix", "rdx_" + token[4:], false},
	}
	for _, tc := range tests {
		got, err := Parse(tc.token)
		if (err == nil) != tc.ok || (tc.ok && got != id) {
			t.Errorf("%s: Parse(%q) = %q, %v; want ok %v", tc.name, tc.token, got, err, tc.ok)
		}
	}
}

func TestStore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t)
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	k, token, err := s.Create(ctx, "wp", []Scope{LinksWrite, LinksRead, LinksWrite}, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(k.Scopes) != 2 || k.Scopes[0] != LinksRead || k.Scopes[1] != LinksWrite {
		t.Errorf("Scopes = %v, want [links:read links:write]", k.Scopes)
	}
	for _, tc := range []struct {
		name   string
		scopes []Scope
		want   error
	}{
		{"WP", []Scope{LinksRead}, ErrExists},
		{"", []Scope{LinksRead}, ErrInvalid},
		{"a b", []Scope{LinksRead}, ErrInvalid},
		{strings.Repeat("a", 65), []Scope{LinksRead}, ErrInvalid},
		{"x", nil, ErrInvalid},
		{"x", []Scope{"links:all"}, ErrInvalid},
	} {
		if _, _, err := s.Create(ctx, tc.name, tc.scopes, now); !errors.Is(err, tc.want) {
			t.Errorf("Create(%q, %v) = %v, want %v", tc.name, tc.scopes, err, tc.want)
		}
	}
	got, ok, err := s.Authenticate(ctx, token)
	if err != nil || !ok || got.ID != k.ID || !got.Has(LinksWrite) || got.Has(StatsRead) {
		t.Fatalf("Authenticate = %+v, %v, %v", got, ok, err)
	}
	if _, ok, _ := s.Authenticate(ctx, token[:len(token)-2]+"AA"); ok && !strings.HasSuffix(token, "AA") {
		t.Error("Authenticate accepted a wrong secret")
	}
	for _, q := range []string{k.ID, "wp", "Wp"} {
		if f, ok, err := s.Find(ctx, q); err != nil || !ok || f.ID != k.ID {
			t.Errorf("Find(%q) = %v, %v, %v", q, f.ID, ok, err)
		}
	}
	if err := s.Revoke(ctx, k.ID); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.Authenticate(ctx, token); ok {
		t.Error("Authenticate accepted a revoked key")
	}
	if err := s.Revoke(ctx, k.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("Revoke again = %v, want ErrNotFound", err)
	}
	// A last-used write that comes after the revocation does not bring a field back.
	if err := s.Touch(ctx, k.ID, now); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.rdb.HLen(ctx, storeKey).Result(); n != 0 {
		t.Errorf("after revoking the only key the hash has %d fields", n)
	}
	// The name is free again.
	if _, _, err := s.Create(ctx, "wp", []Scope{LinksRead}, now); err != nil {
		t.Errorf("Create of a revoked key's name = %v", err)
	}
}

// TestUsed: the last-used time is written at most once a minute per key.
func TestUsed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t)
	t0 := time.Now().Truncate(time.Millisecond)
	k, _, err := s.Create(ctx, "used", []Scope{LinksRead}, t0)
	if err != nil {
		t.Fatal(err)
	}
	lastUsed := func() time.Time {
		f, _, _ := s.Find(ctx, k.ID)
		return f.LastUsed
	}
	s.Used(k.ID, t0)
	clocktest.WaitFor(t, "last used written", func() bool { return lastUsed().Equal(t0) })

	s.Used(k.ID, t0.Add(30*time.Second)) // within the minute: no write is even started
	s.mu.Lock()
	marked := s.touched[k.ID]
	s.mu.Unlock()
	if !marked.Equal(t0) {
		t.Errorf("Used within a minute started a write (mark %v, want %v)", marked, t0)
	}

	t1 := t0.Add(UsedEvery + time.Second)
	s.Used(k.ID, t1)
	clocktest.WaitFor(t, "last used written again", func() bool { return lastUsed().Equal(t1) })
}

// BenchmarkAuthenticate is what a key costs an /api/ request: one HMGET and a hash.
func BenchmarkAuthenticate(b *testing.B) {
	srv := redistest.Start(b)
	rdb, err := store.Connect(context.Background(), srv.URL, store.ConnectOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer rdb.Close()
	s := NewStore(rdb, nil)
	_, token, err := s.Create(context.Background(), "bench", []Scope{LinksRead}, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, ok, err := s.Authenticate(context.Background(), token); !ok || err != nil {
			b.Fatalf("Authenticate = %v, %v", ok, err)
		}
	}
}
