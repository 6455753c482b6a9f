package clicks

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/redirector/redirector/internal/clocktest"
	"github.com/redirector/redirector/internal/link"
)

// memSink is an in-memory Sink that applies each batch atomically, as the Redis sink does.
type memSink struct {
	mu      sync.Mutex          // guards the fields below
	counts  map[[2]string]tally // (id, day) → totals
	calls   int
	failed  int   // calls that returned an error
	largest int   // most counts in one call
	fail    error // when set, AddClicks returns it and adds nothing
	// block, when set, makes AddClicks wait until it is closed or ctx ends.
	block chan struct{}
}

func newMemSink() *memSink { return &memSink{counts: make(map[[2]string]tally)} }

func (s *memSink) AddClicks(ctx context.Context, counts []link.ClickCount) error {
	s.mu.Lock()
	block := s.block
	s.mu.Unlock()
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			s.mu.Lock()
			s.calls++
			s.failed++
			s.mu.Unlock()
			return ctx.Err()
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if s.fail != nil {
		s.failed++
		return s.fail
	}
	if len(counts) == 0 {
		return errors.New("empty batch")
	}
	s.largest = max(s.largest, len(counts))
	for _, c := range counts {
		if _, err := time.Parse("20060102", c.Day); err != nil {
			return fmt.Errorf("bad day %q", c.Day)
		}
		k := [2]string{c.ID, c.Day}
		t := s.counts[k]
		t.clicks += c.Clicks
		t.scans += c.Scans
		s.counts[k] = t
	}
	return nil
}

func (s *memSink) setFail(err error) {
	s.mu.Lock()
	s.fail = err
	s.mu.Unlock()
}

// snapshot returns a copy of the totals and the call counts.
func (s *memSink) snapshot() (counts map[[2]string]tally, calls, failed, largest int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	counts = make(map[[2]string]tally, len(s.counts))
	for k, v := range s.counts {
		counts[k] = v
	}
	return counts, s.calls, s.failed, s.largest
}

func (s *memSink) total() int64 {
	counts, _, _, _ := s.snapshot()
	var n int64
	for _, t := range counts {
		n += t.clicks
	}
	return n
}

// waitFor polls cond until it holds; a generous deadline only turns a hang into a failure.
var waitFor = clocktest.WaitFor

func closeCounter(t *testing.T, c *Counter) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := c.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func checkAccounts(t *testing.T, c *Counter, flushed, dropped uint64, pending int) {
	t.Helper()
	if c.Flushed() != flushed || c.Dropped() != dropped || c.Pending() != pending {
		t.Errorf("Flushed, Dropped, Pending = %d, %d, %d, want %d, %d, %d",
			c.Flushed(), c.Dropped(), c.Pending(), flushed, dropped, pending)
	}
}

// fixedNow is a Now that keeps the tests' day from turning at midnight.
func fixedNow() time.Time { return time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC) }

func TestCounterPerDay(t *testing.T) {
	sink := newMemSink()
	var clk clocktest.Clock
	c := NewCounter(sink, Options{FlushInterval: time.Hour, Now: clk.Now})

	clk.Set(time.Date(2026, 3, 1, 23, 59, 59, 0, time.UTC))
	c.Record("aZ3kP9qX", false)
	c.Record("aZ3kP9qX", true)
	c.Record("summer-sale", true)
	// 08:00 in UTC+10 is still 1 March in UTC: days are UTC days.
	clk.Set(time.Date(2026, 3, 2, 8, 0, 0, 0, time.FixedZone("AEST", 10*3600)))
	c.Record("aZ3kP9qX", false)
	clk.Set(time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC))
	c.Record("aZ3kP9qX", false)
	c.Record("aZ3kP9qX", true)
	c.Record("aZ3kP9qX", false)
	closeCounter(t, c)

	got, calls, _, _ := sink.snapshot()
	want := map[[2]string]tally{
		{"aZ3kP9qX", "20260301"}:    {clicks: 3, scans: 1},
		{"summer-sale", "20260301"}: {clicks: 1, scans: 1},
		{"aZ3kP9qX", "20260302"}:    {clicks: 3, scans: 1},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("sink counts = %v, want %v", got, want)
	}
	if calls != 1 {
		t.Errorf("AddClicks called %d times, want 1 (one batch at Close)", calls)
	}
	checkAccounts(t, c, 7, 0, 0)
}

func TestCounterFlushesInBackground(t *testing.T) {
	sink := newMemSink()
	c := NewCounter(sink, Options{FlushInterval: 5 * time.Millisecond})
	defer closeCounter(t, c)
	for i := range 100 {
		c.Record(fmt.Sprintf("id%d", i%7), i%4 == 0)
	}
	waitFor(t, "100 clicks in the sink without Close", func() bool { return sink.total() == 100 })
	waitFor(t, "Flushed() == 100", func() bool { return c.Flushed() == 100 })
	checkAccounts(t, c, 100, 0, 0)
}

func TestCounterMaxBatch(t *testing.T) {
	sink := newMemSink()
	c := NewCounter(sink, Options{FlushInterval: time.Hour, MaxBatch: 3})
	for i := range 10 {
		c.Record(fmt.Sprintf("id%d", i), false)
	}
	// With the interval an hour away, only reaching MaxBatch can start these writes.
	waitFor(t, "a write started by a full batch", func() bool { return sink.total() >= 3 })
	closeCounter(t, c)
	got, _, _, largest := sink.snapshot()
	if len(got) != 10 || sink.total() != 10 {
		t.Errorf("sink has %d ids, %d clicks, want 10, 10", len(got), sink.total())
	}
	if largest > 3 {
		t.Errorf("largest batch had %d counts, want at most MaxBatch = 3", largest)
	}
	checkAccounts(t, c, 10, 0, 0)
}

func TestCounterFullBufferDrops(t *testing.T) {
	sink := newMemSink()
	// The aggregating goroutine is not started yet, so nothing empties the buffer.
	c := newCounter(sink, Options{BufferSize: 8, FlushInterval: time.Hour})
	for range 20 {
		c.Record("aZ3kP9qX", false) // would hang here if Record blocked
	}
	checkAccounts(t, c, 0, 12, 8)
	go c.run()
	closeCounter(t, c)
	if got := sink.total(); got != 8 {
		t.Errorf("sink has %d clicks, want the 8 that fitted in the buffer", got)
	}
	checkAccounts(t, c, 8, 12, 0)
}

func TestCounterSinkFailureThenRecovery(t *testing.T) {
	sink := newMemSink()
	sink.setFail(errors.New("redis down"))
	c := NewCounter(sink, Options{FlushInterval: 2 * time.Millisecond, Now: fixedNow})
	defer closeCounter(t, c)
	for i := range 50 {
		c.Record(fmt.Sprintf("id%d", i%5), i%2 == 0)
	}
	waitFor(t, "three failed writes", func() bool { _, _, failed, _ := sink.snapshot(); return failed >= 3 })
	if sink.total() != 0 {
		t.Fatalf("sink has %d clicks while failing, want 0", sink.total())
	}
	if c.Flushed() != 0 || c.Dropped() != 0 || c.Pending() != 50 {
		t.Fatalf("while failing: Flushed, Dropped, Pending = %d, %d, %d, want 0, 0, 50", c.Flushed(), c.Dropped(), c.Pending())
	}
	c.Record("id0", true) // clicks keep coming while the sink is down
	sink.setFail(nil)
	waitFor(t, "51 clicks written after recovery", func() bool { return c.Flushed() == 51 })
	want := map[[2]string]tally{}
	day := "20260301"
	for i := range 50 {
		k := [2]string{fmt.Sprintf("id%d", i%5), day}
		w := want[k]
		w.clicks++
		if i%2 == 0 {
			w.scans++
		}
		want[k] = w
	}
	want[[2]string{"id0", day}] = tally{clicks: want[[2]string{"id0", day}].clicks + 1, scans: want[[2]string{"id0", day}].scans + 1}
	if got, _, _, _ := sink.snapshot(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("sink counts = %v, want %v (each click written once, not once per retry)", got, want)
	}
	checkAccounts(t, c, 51, 0, 0)
}

func TestCounterMaxPending(t *testing.T) {
	sink := newMemSink()
	// No write happens before Close (an hour's interval, a batch larger than MaxPending), so the
	// aggregate meets MaxPending.
	c := NewCounter(sink, Options{FlushInterval: time.Hour, MaxPending: 3, Now: fixedNow})
	for _, id := range []string{"a01", "b01", "c01", "d01", "a01", "e01", "c01"} {
		c.Record(id, false)
	}
	closeCounter(t, c)
	got, _, _, _ := sink.snapshot()
	day := "20260301"
	want := map[[2]string]tally{{"a01", day}: {clicks: 2}, {"b01", day}: {clicks: 1}, {"c01", day}: {clicks: 2}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("sink counts = %v, want %v (new ids past MaxPending dropped)", got, want)
	}
	checkAccounts(t, c, 5, 2, 0)
}

// batchSink records every batch it is given and fails the first failFirst of them.
type batchSink struct {
	mu        sync.Mutex // guards batches and failFirst
	batches   [][]link.ClickCount
	failFirst int
}

func (b *batchSink) AddClicks(ctx context.Context, counts []link.ClickCount) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.batches = append(b.batches, slices.Clone(counts))
	if b.failFirst > 0 {
		b.failFirst--
		return errors.New("redis timed out")
	}
	return nil
}

// TestCounterRetriesAFailedBatchUnchanged checks what makes writes idempotent: a batch whose write
// failed (it may have landed all the same) is written again with the same Writer and Seq and the same
// counts, before any newer clicks, which go in a later batch under a higher Seq.
func TestCounterRetriesAFailedBatchUnchanged(t *testing.T) {
	sink := &batchSink{failFirst: 2}
	c := newCounter(sink, Options{Now: fixedNow})
	p := &pending{counts: map[key]tally{}, visits: map[visitKey]visitTally{}, days: map[int32]string{}}
	write := func(b *batch) error { return sink.AddClicks(context.Background(), b.counts) }
	c.add(p, event{id: "a01", day: dayNumber("20260301")})
	c.add(p, event{id: "a01", day: dayNumber("20260301"), scan: true})
	firstBatch := c.take(p)
	c.finish(p, firstBatch, write(firstBatch))
	c.add(p, event{id: "b01", day: dayNumber("20260301")}) // arrives while the first batch is failing
	secondBatch := c.take(p)
	c.finish(p, secondBatch, write(secondBatch))
	thirdBatch := c.take(p)
	c.finish(p, thirdBatch, write(thirdBatch))
	fourthBatch := c.take(p)
	if err := write(fourthBatch); err != nil {
		t.Fatal(err)
	}
	c.finish(p, fourthBatch, nil)
	first, second, third, fourth := firstBatch.counts, secondBatch.counts, thirdBatch.counts, fourthBatch.counts

	if len(first) != 1 || first[0].Writer == "" || first[0].Seq == 0 || first[0].Clicks != 2 || first[0].Scans != 1 {
		t.Fatalf("first batch = %+v, want a01 with 2 clicks, 1 scan, a writer and a Seq", first)
	}
	for i, retry := range [][]link.ClickCount{second, third} {
		if !slices.Equal(retry, first) {
			t.Errorf("retry %d = %+v, want the failed batch unchanged %+v", i+1, retry, first)
		}
	}
	if len(fourth) != 1 || fourth[0].ID != "b01" || fourth[0].Writer != first[0].Writer || fourth[0].Seq <= first[0].Seq {
		t.Errorf("batch after the retries = %+v, want b01 alone under the same writer and a higher Seq than %d", fourth, first[0].Seq)
	}
	checkAccounts(t, c, 3, 0, 0)
}

func TestCounterCloseGivesUp(t *testing.T) {
	sink := newMemSink()
	sink.setFail(errors.New("redis down"))
	c := NewCounter(sink, Options{FlushInterval: time.Hour})
	for range 5 {
		c.Record("aZ3kP9qX", true)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := c.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Close with a failing sink = %v, want an error wrapping context.DeadlineExceeded", err)
	}
	checkAccounts(t, c, 0, 5, 0)
	c.Record("aZ3kP9qX", false)
	checkAccounts(t, c, 0, 6, 0)
	if err := c.Close(context.Background()); err == nil {
		t.Error("second Close = nil, want the first Close's error")
	}
}

func TestCounterRecordNeverBlocks(t *testing.T) {
	sink := newMemSink()
	sink.block = make(chan struct{})
	defer close(sink.block)
	// A sink that hangs: writes never finish, the buffer is tiny and the aggregate is capped.
	c := NewCounter(sink, Options{BufferSize: 16, FlushInterval: time.Millisecond, MaxBatch: 2, MaxPending: 4, FlushTimeout: time.Hour})
	const n = 10000
	for i := range n {
		c.Record(fmt.Sprintf("id%d", i), false) // would hang here if Record waited for the sink
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := c.Close(ctx); err == nil {
		t.Error("Close with a hung sink = nil, want an error")
	}
	checkAccounts(t, c, 0, n, 0)
}

func TestCounterConcurrentRecord(t *testing.T) {
	const goroutines, each, ids = 8, 5000, 10
	sink := newMemSink()
	c := NewCounter(sink, Options{BufferSize: goroutines * each, FlushInterval: time.Millisecond, MaxBatch: 4, Now: fixedNow})
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range each {
				c.Record(fmt.Sprintf("id%d", (g+i)%ids), i%3 == 0)
			}
		})
	}
	wg.Wait()
	closeCounter(t, c)

	got, _, _, _ := sink.snapshot()
	day := "20260301"
	want := map[[2]string]tally{}
	for g := range goroutines {
		for i := range each {
			k := [2]string{fmt.Sprintf("id%d", (g+i)%ids), day}
			w := want[k]
			w.clicks++
			if i%3 == 0 {
				w.scans++
			}
			want[k] = w
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("sink counts = %v, want %v", got, want)
	}
	checkAccounts(t, c, goroutines*each, 0, 0)
}

// discardSink accepts everything.
type discardSink struct{}

func (discardSink) AddClicks(context.Context, []link.ClickCount) error { return nil }

func BenchmarkRecord(b *testing.B) {
	c := NewCounter(discardSink{}, Options{})
	defer c.Close(context.Background())
	b.ReportAllocs()
	for b.Loop() {
		c.Record("aZ3kP9qX", false)
	}
	b.ReportMetric(float64(c.Dropped())/float64(b.N), "dropped/op")
}

func BenchmarkRecordParallel(b *testing.B) {
	c := NewCounter(discardSink{}, Options{})
	defer c.Close(context.Background())
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c.Record("aZ3kP9qX", true)
		}
	})
	b.ReportMetric(float64(c.Dropped())/float64(b.N), "dropped/op")
}

// dayNumber turns a "20060102" day back into days since 1970-01-01.
func dayNumber(day string) int32 {
	t, err := time.Parse("20060102", day)
	if err != nil {
		return 0 // the tests pass well-formed days
	}
	return int32(t.Unix() / 86400)
}
