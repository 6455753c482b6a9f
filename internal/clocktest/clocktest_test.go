package clocktest_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/redirector/redirector/internal/clocktest"
)

func TestClock(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	c := clocktest.New(t0)
	if got := c.Now(); !got.Equal(t0) {
		t.Errorf("New(%v).Now() = %v, want %v", t0, got, t0)
	}
	c.Advance(time.Hour)
	if got, want := c.Now(), t0.Add(time.Hour); !got.Equal(want) {
		t.Errorf("after Advance(1h): Now() = %v, want %v", got, want)
	}
	t1 := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	c.Set(t1)
	if got := c.Now(); !got.Equal(t1) {
		t.Errorf("after Set(%v): Now() = %v, want %v", t1, got, t1)
	}

	var wall clocktest.Clock
	wall.Advance(time.Hour)
	if got, lo := wall.Now(), time.Now().Add(time.Hour-time.Minute); got.Before(lo) {
		t.Errorf("zero Clock after Advance(1h): Now() = %v, want about an hour from the wall clock", got)
	}
}

func TestWaitFor(t *testing.T) {
	var n atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 3 {
			n.Add(1)
		}
	}()
	clocktest.WaitFor(t, "three", func() bool { return n.Load() == 3 })
	<-done
}
