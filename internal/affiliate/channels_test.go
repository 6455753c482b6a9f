package affiliate_test

import (
	"sync"
	"testing"
	"time"

	"github.com/redirector/redirector/internal/affiliate"
	"github.com/redirector/redirector/internal/affiliate/affiliatetest"
	"github.com/redirector/redirector/internal/clocktest"
)

// TestGenerateOnGroupsByTrackingID: sources of two channels missing in one window share a call per
// channel, never one call: link.generate takes one tracking id per call. An unknown channel is the
// platform's error for its own sources only.
func TestGenerateOnGroupsByTrackingID(t *testing.T) {
	c, p := start(t, affiliatetest.PlatformConfig{TrackingIDs: []string{"chan_b"}}, func(c *affiliate.Config) {
		c.BatchWindow = time.Second
	})
	ctx := timeout(t, 5*time.Second)
	var wg sync.WaitGroup
	errs := make([]error, 9)
	for i := range 9 {
		ch := []string{"", "chan_b", "not_ours"}[i%3]
		wg.Go(func() { _, errs[i] = c.GenerateOn(ctx, page(i), ch) })
	}
	clocktest.WaitFor(t, "all nine sources to wait in their batches", func() bool { return affiliate.PendingSources(c) == 9 })
	wg.Wait()
	for i, err := range errs {
		if (i%3 == 2) != (err != nil) {
			t.Errorf("source %d on %q: err %v", i, []string{"", "chan_b", "not_ours"}[i%3], err)
		}
	}
	perTracking := map[string]int{}
	for _, f := range p.Requests() {
		perTracking[f.Get("tracking_id")]++
	}
	want := map[string]int{tracking: 1, "chan_b": 1, "not_ours": 1}
	if len(perTracking) != len(want) {
		t.Errorf("calls per tracking id = %v, want %v", perTracking, want)
	}
	for k, n := range want {
		if perTracking[k] != n {
			t.Errorf("calls with tracking_id %q = %d, want %d (all: %v)", k, perTracking[k], n, perTracking)
		}
	}
}
