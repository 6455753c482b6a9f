package affiliate_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/redirector/redirector/internal/affiliate"
	"github.com/redirector/redirector/internal/affiliate/affiliatetest"
	"github.com/redirector/redirector/internal/clocktest"
)

func page(i int) string {
	return fmt.Sprintf("https://www.aliexpress.com/item/10050000000%05d.html", i)
}

// generateAll runs Generate for each source concurrently and returns the answers in order.
func generateAll(ctx context.Context, c *affiliate.Client, sources []string) ([]string, []error) {
	links, errs := make([]string, len(sources)), make([]error, len(sources))
	var wg sync.WaitGroup
	for i, s := range sources {
		wg.Go(func() { links[i], errs[i] = c.Generate(ctx, s) })
	}
	wg.Wait()
	return links, errs
}

func TestGenerateBatchesConcurrentMisses(t *testing.T) {
	tests := []struct {
		name     string
		n        int
		maxBatch int
		calls    int
	}{
		{"one batch", 50, 50, 1},
		{"three full batches", 150, 50, 3},
		{"batches of one", 5, 1, 5},
		{"the rest when the window ends", 120, 50, 3},
		{"one source when the window ends", 1, 50, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// The window is long so that every goroutine joins before it ends: full batches close by
			// size, and only the rest waits for the window.
			c, p := start(t, affiliatetest.PlatformConfig{}, func(c *affiliate.Config) {
				c.MaxBatch, c.BatchWindow = tc.maxBatch, time.Second
			})
			sources := make([]string, tc.n)
			for i := range sources {
				sources[i] = page(i)
			}
			links, errs := generateAll(timeout(t, 5*time.Second), c, sources)
			for i, s := range sources {
				if errs[i] != nil || links[i] != affiliatetest.Link(s) {
					t.Errorf("Generate(%s) = %q, %v; want %q", s, links[i], errs[i], affiliatetest.Link(s))
				}
			}
			if got := p.Calls(); got != tc.calls {
				t.Errorf("platform calls = %d, want %d", got, tc.calls)
			}
			if got := len(p.SourceValues()); got != tc.n {
				t.Errorf("platform source values = %d, want %d", got, tc.n)
			}
		})
	}
}

func TestGenerateDuplicatesShareASlot(t *testing.T) {
	t.Parallel()
	c, p := start(t, affiliatetest.PlatformConfig{}, func(c *affiliate.Config) { c.BatchWindow = time.Second })
	sources := []string{page1, page1, page1, page2, page1, page2, page(3)}
	links, errs := generateAll(timeout(t, 5*time.Second), c, sources)
	for i, s := range sources {
		if errs[i] != nil || links[i] != affiliatetest.Link(s) {
			t.Errorf("Generate(%s) = %q, %v; want %q", s, links[i], errs[i], affiliatetest.Link(s))
		}
	}
	if n, sv := p.Calls(), p.SourceValues(); n != 1 || len(sv) != 3 {
		t.Errorf("platform calls, source values = %d, %q; want 1 call with 3 distinct sources", n, sv)
	}
}

// fullBatch makes batches of n close as soon as n sources joined, whatever the scheduling.
func fullBatch(n int) func(*affiliate.Config) {
	return func(c *affiliate.Config) { c.MaxBatch, c.BatchWindow = n, 10*time.Second }
}

func TestGenerateEachWaiterItsOwnResult(t *testing.T) {
	c, p := start(t, affiliatetest.PlatformConfig{}, fullBatch(3))
	p.SetNotPromotable(page2)
	sources := []string{page1, page2, page(3)}
	links, errs := generateAll(timeout(t, 5*time.Second), c, sources)
	if errs[0] != nil || links[0] != affiliatetest.Link(page1) || errs[2] != nil || links[2] != affiliatetest.Link(page(3)) {
		t.Errorf("Generate promotable pages = %q, %v; want their own links", links, errs)
	}
	if !errors.Is(errs[1], affiliate.ErrNotPromotable) || links[1] != "" {
		t.Errorf("Generate(%s) = %q, %v; want ErrNotPromotable", page2, links[1], errs[1])
	}
	if n := p.Calls(); n != 1 {
		t.Errorf("platform calls = %d, want 1", n)
	}
}

func TestGenerateWholeBatchFailure(t *testing.T) {
	c, p := start(t, affiliatetest.PlatformConfig{}, fullBatch(4))
	p.FailAlways(affiliatetest.FailNotRegistered)
	sources := []string{page(1), page(2), page(3), page(4)}
	links, errs := generateAll(timeout(t, 5*time.Second), c, sources)
	for i, s := range sources {
		var pe *affiliate.PlatformError
		if links[i] != "" || !errors.As(errs[i], &pe) || pe.Code != "401" {
			t.Errorf("Generate(%s) = %q, %v; want the batch's 401 error", s, links[i], errs[i])
		}
	}
	p.FailNext(affiliatetest.FailNone, 0)
	links, errs = generateAll(timeout(t, 5*time.Second), c, sources)
	for i, s := range sources {
		if errs[i] != nil || links[i] != affiliatetest.Link(s) {
			t.Errorf("Generate(%s) after the failure = %q, %v; want %q", s, links[i], errs[i], affiliatetest.Link(s))
		}
	}
}

func TestGenerateWaiterLeavesBatchGoesOn(t *testing.T) {
	c, p := start(t, affiliatetest.PlatformConfig{}, fullBatch(2))
	p.SetLatency(300 * time.Millisecond)
	var wg sync.WaitGroup
	var shortErr error
	wg.Go(func() { _, shortErr = c.Generate(timeout(t, 100*time.Millisecond), page1) })
	link, err := c.Generate(timeout(t, 5*time.Second), page2)
	wg.Wait()
	if !errors.Is(shortErr, context.DeadlineExceeded) {
		t.Errorf("Generate with a short deadline error = %v, want context.DeadlineExceeded", shortErr)
	}
	if err != nil || link != affiliatetest.Link(page2) {
		t.Errorf("Generate(%s) = %q, %v; want %q", page2, link, err, affiliatetest.Link(page2))
	}
	if n, sv := p.Calls(), p.SourceValues(); n != 1 || len(sv) != 2 {
		t.Errorf("platform calls, source values = %d, %q; want 1 call with both sources", n, sv)
	}
}

func TestGenerateBatchCallEndsWithLastDeadline(t *testing.T) {
	c, p := start(t, affiliatetest.PlatformConfig{}, func(c *affiliate.Config) { c.BatchWindow = 20 * time.Millisecond })
	p.FailAlways(affiliatetest.FailHang)
	_, err := c.Generate(timeout(t, 200*time.Millisecond), page1)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Generate error = %v, want context.DeadlineExceeded", err)
	}
	// Close waits for the batch's call: it returns because the call ended with the waiter's deadline.
	c.Close()
	if n := p.Calls(); n != 1 {
		t.Errorf("platform calls = %d, want 1 (no retry past the deadline)", n)
	}
}

func TestClose(t *testing.T) {
	c, _ := start(t, affiliatetest.PlatformConfig{}, func(c *affiliate.Config) { c.BatchWindow = time.Hour })
	errc := make(chan error, 1)
	go func() {
		_, err := c.Generate(t.Context(), page1)
		errc <- err
	}()
	// Close must fail a waiter of the pending batch (one it forgot would block for an hour): wait until
	// there is one. Before it joins, Close would leave nothing pending and prove nothing.
	clocktest.WaitFor(t, "the waiter to join the pending batch", func() bool { return affiliate.PendingSources(c) == 1 })
	c.Close()
	if err := <-errc; err == nil {
		t.Errorf("pending Generate after Close error = nil, want one")
	}
	if _, err := c.Generate(t.Context(), page1); err == nil {
		t.Errorf("Generate after Close error = nil, want one")
	}
	c.Close()
}
