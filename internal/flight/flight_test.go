package flight_test

import (
	"sync"
	"sync/atomic"
	"testing"

	"github.com/redirector/redirector/internal/flight"
)

// The groupcache test: many concurrent callers of one key, one load, one caller charged.
func TestDoOneLoadPerKey(t *testing.T) {
	var g flight.Group[string]
	release := make(chan struct{})
	var loads, starts atomic.Int64
	const n = 200
	calls := make([]*flight.Call[string], n)
	started := make([]bool, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			calls[i], started[i] = g.Do("k", func() bool { starts.Add(1); return true }, func() string {
				loads.Add(1)
				<-release
				return "v"
			})
		})
	}
	wg.Wait() // every caller has its Call before the load may end: all of them joined the one load
	close(release)
	if got := starts.Load(); got != 1 {
		t.Errorf("start asked %d times, want 1 (only the caller that begins the load)", got)
	}
	first := 0
	for i := range n {
		if started[i] {
			first++
		}
		if calls[i] != calls[0] {
			t.Fatalf("caller %d got another Call than caller 0", i)
		}
	}
	if first != 1 {
		t.Errorf("callers told they started the load = %d, want 1", first)
	}
	<-calls[0].Done() // the load has run (it may not have begun before release was closed)
	if got := loads.Load(); got != 1 {
		t.Errorf("loads = %d for %d concurrent callers, want 1", got, n)
	}
	if v := calls[0].Val(); v != "v" {
		t.Errorf("Val() = %q, want %q", v, "v")
	}
}

func TestDoStartRefused(t *testing.T) {
	var g flight.Group[int]
	c, started := g.Do("k", func() bool { return false }, func() int { t.Error("load ran though start refused"); return 0 })
	if c != nil || started {
		t.Errorf("Do with start refusing = %v, %v, want nil, false", c, started)
	}
	// A refused start leaves nothing behind: the next caller may begin the load.
	c, started = g.Do("k", func() bool { return true }, func() int { return 7 })
	if c == nil || !started {
		t.Fatalf("Do after a refusal = %v, %v, want a new load", c, started)
	}
	<-c.Done()
	if c.Val() != 7 {
		t.Errorf("Val() = %d, want 7", c.Val())
	}
}

func TestDoAfterLoadEndsStartsAnew(t *testing.T) {
	var g flight.Group[int]
	n := 0
	for i := range 3 {
		c, started := g.Do("k", func() bool { return true }, func() int { n++; return n })
		if !started {
			t.Fatalf("Do #%d after the previous load ended: started = false, want true", i)
		}
		<-c.Done()
		if c.Val() != i+1 {
			t.Errorf("load #%d = %d, want %d", i, c.Val(), i+1)
		}
	}
	if got := g.InFlight(); got != 0 {
		t.Errorf("InFlight() after every load ended = %d, want 0", got)
	}
}
