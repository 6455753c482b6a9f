package bio

import (
	"context"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

// slowPages counts its reads and holds each until release is closed.
type slowPages struct {
	fakePages
	gets    atomic.Int32
	release chan struct{}
}

func (s *slowPages) Get(ctx context.Context, handle string) (Page, bool, error) {
	s.gets.Add(1)
	<-s.release
	return s.fakePages.Get(ctx, handle)
}

// TestRenderOnceForConcurrentMisses: many visitors of a page that is not kept cause one render.
func TestRenderOnceForConcurrentMisses(t *testing.T) {
	pages := &slowPages{fakePages: fakePages{"ana": {Handle: "Ana", Title: "Ana", Items: []Item{{ID: "aZ3kP9qX"}}}}, release: make(chan struct{})}
	products := ProductsFunc(func(context.Context, string, netip.Addr) (Product, bool) { return Product{Title: "Lamp"}, true })
	r := NewRenderer(pages, fakeLinks{}, products, "https://go.example.test", RenderOptions{})
	const n = 50
	var wg sync.WaitGroup
	results := make([]Rendered, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { results[i], errs[i] = r.Render(context.Background(), "ANA", netip.Addr{}) })
	}
	// Wait until the one render has begun and every visitor is waiting (or has joined).
	for pages.gets.Load() == 0 || r.loads.InFlight() == 0 {
		runtime.Gosched()
	}
	close(pages.release)
	wg.Wait()
	if got := pages.gets.Load(); got != 1 {
		t.Errorf("%d concurrent visits of a page not kept read the store %d times, want 1", n, got)
	}
	for i := range n {
		if errs[i] != nil || !results[i].Found || string(results[i].Body) != string(results[0].Body) {
			t.Fatalf("visit %d: %v, found %v; want the one render", i, errs[i], results[i].Found)
		}
	}
	if _, err := r.Render(context.Background(), "ana", netip.Addr{}); err != nil || pages.gets.Load() != 1 {
		t.Errorf("a later visit read the store again (%d reads, %v): the render was not kept", pages.gets.Load(), err)
	}
	r.Forget()
	if _, err := r.Render(context.Background(), "ana", netip.Addr{}); err != nil || pages.gets.Load() != 2 {
		t.Errorf("after Forget: %d reads (%v), want a new render (2)", pages.gets.Load(), err)
	}
}
