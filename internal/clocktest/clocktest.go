// Package clocktest gives tests time they control: a settable clock to hand to the code under test,
// and WaitFor, which waits for a condition instead of sleeping for a guessed time.
package clocktest

import (
	"sync"
	"testing"
	"time"
)

// Clock is a time source shared by a test and the code under test: pass c.Now where a
// func() time.Time is wanted. New fixes it at a time; the zero Clock follows the wall clock (for code
// whose partners, such as the platform fake or Redis, read the wall clock too). Advance moves it
// forward either way. Safe for concurrent use.
type Clock struct {
	mu     sync.Mutex    // guards the fields below
	fixed  time.Time     // zero: the wall clock
	offset time.Duration // added to fixed or to the wall clock
}

// New returns a Clock that stands at t until Set or Advance moves it.
func New(t time.Time) *Clock { return &Clock{fixed: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fixed.IsZero() {
		return time.Now().Add(c.offset)
	}
	return c.fixed.Add(c.offset)
}

// Set makes the clock stand at t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.fixed, c.offset = t, 0
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}

// WaitTimeout is how long WaitFor waits before it fails the test: long enough for a loaded machine
// running the race detector, so that it only turns a hang into a failure.
const WaitTimeout = 20 * time.Second

// WaitFor polls cond every millisecond until it holds, and fails the test (naming what) if it does
// not within WaitTimeout. It is for conditions that no channel or hook announces; cond must be safe
// to call from the test's goroutine while the code under test runs.
func WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(WaitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s after %v", what, WaitTimeout)
		}
		time.Sleep(time.Millisecond)
	}
}
