// Package flight runs at most one load per key at a time, and tells each caller whether it began
// the load or joined one already under way (which singleflight does not), so that a cost can be
// charged to the caller that causes the work and to no one else.
package flight

import "sync"

// Call is one load. Its value may be read once Done is closed.
type Call[V any] struct {
	done chan struct{}
	val  V // written once by the load, before done is closed
}

// Done returns a channel that is closed when the load has ended.
func (c *Call[V]) Done() <-chan struct{} { return c.done }

// Val returns the load's value; it must be called only after Done is closed.
func (c *Call[V]) Val() V { return c.val }

// Group holds the loads under way, by key. The zero value is ready to use. Safe for concurrent use.
type Group[V any] struct {
	mu    sync.Mutex          // guards calls
	calls map[string]*Call[V] // the loads under way
}

// Do returns the load of key that is under way, with started=false. When none is, it asks start
// whether one may begin: if so it runs load in a goroutine of its own and returns its Call with
// started=true; if not, it returns nil, false.
//
// start is called with the group's lock held, so that two callers can never both begin a load of
// one key (and both be charged for it): it must be quick and must not call Do. load must not
// panic; its value is what every caller of the Call reads. A key is forgotten once its load has
// returned, so the next Do after that begins a new load.
func (g *Group[V]) Do(key string, start func() bool, load func() V) (c *Call[V], started bool) {
	g.mu.Lock()
	if c, ok := g.calls[key]; ok {
		g.mu.Unlock()
		return c, false
	}
	if !start() {
		g.mu.Unlock()
		return nil, false
	}
	if g.calls == nil {
		g.calls = make(map[string]*Call[V])
	}
	c = &Call[V]{done: make(chan struct{})}
	g.calls[key] = c
	g.mu.Unlock()

	go func() {
		c.val = load()
		g.mu.Lock()
		delete(g.calls, key)
		g.mu.Unlock()
		close(c.done)
	}()
	return c, true
}

// InFlight reports how many loads are under way.
func (g *Group[V]) InFlight() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.calls)
}
