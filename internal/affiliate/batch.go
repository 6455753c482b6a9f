package affiliate

import (
	"context"
	"slices"
	"time"
)

// batch is the sources that missed within one window. Its fields other than done are written under
// Client.mu until it starts, and results and err once by its call, before done is closed.
type batch struct {
	tracking  string    // the tracking id (channel) every source of the batch is generated on
	sources   []string  // distinct, in arrival order
	deadline  time.Time // the latest of the waiters' deadlines
	unbounded bool      // some waiter had no deadline
	timer     *time.Timer
	done      chan struct{}
	results   map[string]Result
	err       error
}

// Generate returns the promotion link for source (a product or other AliExpress page URL). Sources
// asked for within BatchWindow of each other share one call, up to MaxBatch distinct sources, and
// the same source asked twice shares one slot. It returns ErrNotPromotable when the platform has no
// link for source; the call's error (see GenerateBatch) when the batch failed as a whole; and ctx's
// error when ctx ends first, which leaves the batch running for the other waiters.
func (c *Client) Generate(ctx context.Context, source string) (string, error) {
	return c.GenerateOn(ctx, source, "")
}

// GenerateOn is Generate on the channel trackingID ("" for the client's own TrackingID): the link it
// returns carries that tracking id. Sources of one tracking id share calls as for Generate; sources of
// different tracking ids never share one, since link.generate takes one tracking id per call.
func (c *Client) GenerateOn(ctx context.Context, source, trackingID string) (string, error) {
	if err := checkSource(source); err != nil {
		return "", err
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if trackingID == "" {
		trackingID = c.trackingID
	} else if err := checkSource(trackingID); err != nil {
		return "", err
	}
	b, err := c.enqueue(ctx, source, trackingID)
	if err != nil {
		return "", err
	}
	select {
	case <-b.done:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	if b.err != nil {
		return "", b.err
	}
	r := b.results[source]
	return r.Link, r.Err
}

func (c *Client) enqueue(ctx context.Context, source, trackingID string) (*batch, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, errClosed
	}
	b := c.pending[trackingID]
	if b == nil {
		b = &batch{tracking: trackingID, done: make(chan struct{})}
		c.pending[trackingID] = b
		b.timer = time.AfterFunc(c.window, func() { c.flush(b) })
	}
	if dl, ok := ctx.Deadline(); !ok {
		b.unbounded = true
	} else if dl.After(b.deadline) {
		b.deadline = dl
	}
	if !slices.Contains(b.sources, source) {
		b.sources = append(b.sources, source)
	}
	if len(b.sources) >= c.maxBatch {
		b.timer.Stop()
		c.startLocked(b)
	}
	return b, nil
}

// flush starts b when its window ends, unless it was started already because it filled up.
func (c *Client) flush(b *batch) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pending[b.tracking] == b {
		c.startLocked(b)
	}
}

// startLocked runs b's call in its own goroutine. The call is not tied to any one waiter's context,
// so a waiter that leaves does not fail the others; it lives until the last waiter's deadline (or
// the HTTP client's timeout when a waiter has none), or until Close.
func (c *Client) startLocked(b *batch) {
	delete(c.pending, b.tracking)
	var ctx context.Context
	var cancel context.CancelFunc
	if b.unbounded {
		ctx, cancel = context.WithCancel(context.Background())
	} else {
		ctx, cancel = context.WithDeadline(context.Background(), b.deadline)
	}
	c.inflight[b] = cancel
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		b.results, b.err = c.generate(ctx, b.tracking, b.sources)
		c.mu.Lock()
		delete(c.inflight, b)
		c.mu.Unlock()
		cancel()
		close(b.done)
	}()
}

// Close stops the batcher: sources waiting for a window fail, calls in flight are cancelled, and
// later Generate calls fail. It waits for running calls to end. GenerateBatch and ProductDetail
// keep working. Close may be called more than once.
func (c *Client) Close() {
	c.mu.Lock()
	c.closed = true
	for _, b := range c.pending {
		b.timer.Stop()
		b.err = errClosed
		close(b.done)
	}
	clear(c.pending)
	for _, cancel := range c.inflight {
		cancel()
	}
	c.mu.Unlock()
	c.wg.Wait()
}
