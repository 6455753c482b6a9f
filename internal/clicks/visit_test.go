package clicks

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/redirector/redirector/internal/stats"
)

// visitSink keeps the visits it is given; failSecret, while above 0, makes DaySecret fail that often.
type visitSink struct {
	mu         sync.Mutex // guards the fields
	visits     []stats.Visit
	secrets    int // DaySecret calls
	failSecret int
}

func (s *visitSink) DaySecret(_ context.Context, day string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.secrets++
	if s.failSecret > 0 {
		s.failSecret--
		return nil, errors.New("redis timed out")
	}
	return []byte("secret of " + day), nil
}

func (s *visitSink) AddVisits(_ context.Context, visits []stats.Visit) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.visits = append(s.visits, visits...)
	return nil
}

const testUA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"

// TestCounterVisits: a visitor's clicks in a batch become one visit carrying their number, named by
// the day's secret and described; another source is another visit of the same visitor; a failed secret
// is asked again and nothing is lost.
func TestCounterVisits(t *testing.T) {
	sink := &visitSink{failSecret: 1}
	c := NewCounter(discardSink{}, Options{Now: fixedNow, FlushInterval: time.Millisecond, Visits: sink})
	addr := netip.MustParseAddr("193.0.6.139")
	for range 1000 {
		c.Visit("aZ3kP9qX", stats.Hit{Addr: addr, UserAgent: testUA, Referrer: "t.co"})
	}
	c.Visit("aZ3kP9qX", stats.Hit{Addr: addr, UserAgent: testUA, Source: stats.SourceQR})
	if err := c.Close(context.Background()); err != nil {
		t.Fatalf("Close = %v", err)
	}
	if c.Flushed() != 1001 || c.Dropped() != 0 {
		t.Errorf("Flushed %d, Dropped %d; want 1001 and 0", c.Flushed(), c.Dropped())
	}
	want := stats.NewHasher([]byte("secret of 20260301")).Visitor(addr, testUA)
	// The clicks may be split between batches (a write every millisecond), never lost or doubled.
	got := map[string]int64{}
	for _, v := range sink.visits {
		got[v.Values[stats.DimSource]+" from "+v.Values[stats.DimReferrer]] += v.Clicks
	}
	if len(got) != 2 || got["link from t.co"] != 1000 || got["qr from direct"] != 1 {
		t.Fatalf("visits = %+v, want 1000 clicks from t.co and one scan", sink.visits)
	}
	for _, v := range sink.visits {
		if v.ID != "aZ3kP9qX" || v.Day != "20260301" || v.Visitor != want || v.Values[stats.DimCountry] != "NL" || v.Values[stats.DimBrowser] != "Chrome" {
			t.Errorf("visit %+v, want aZ3kP9qX on 20260301 by %s, NL, Chrome", v, want)
		}
	}
	if sink.secrets != 2 {
		t.Errorf("DaySecret called %d times, want 2 (a failure, then once for the day)", sink.secrets)
	}
}

// TestCounterVisitsBounded: distinct visitors past MaxPending are dropped, not held.
func TestCounterVisitsBounded(t *testing.T) {
	sink := &visitSink{}
	c := newCounter(discardSink{}, Options{Now: fixedNow, MaxPending: 100, Visits: sink})
	p := &pending{counts: map[key]tally{}, visits: map[visitKey]visitTally{}, days: map[int32]string{}}
	for i := range 1000 {
		c.add(p, event{id: "a", day: 1, visit: true, hit: stats.Hit{Addr: netip.MustParseAddr("193.0.6.139"), UserAgent: fmt.Sprintf("UA %d", i)}})
	}
	if len(p.visits) != 100 || c.Dropped() != 900 {
		t.Errorf("%d visits held, %d dropped; want 100 and 900", len(p.visits), c.Dropped())
	}
}

// TestCounterVisitWithoutSink: without Options.Visits, Visit counts like Record.
func TestCounterVisitWithoutSink(t *testing.T) {
	sink := newMemSink()
	c := NewCounter(sink, Options{Now: fixedNow})
	c.Visit("aZ3kP9qX", stats.Hit{UserAgent: testUA, Source: stats.SourceQR})
	c.Visit("aZ3kP9qX", stats.Hit{UserAgent: testUA})
	if err := c.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	counts, _, _, _ := sink.snapshot()
	if got := counts[[2]string{"aZ3kP9qX", "20260301"}]; got.clicks != 2 || got.scans != 1 {
		t.Errorf("counts = %+v, want 2 clicks, 1 scan", got)
	}
}

func BenchmarkVisit(b *testing.B) {
	c := NewCounter(discardSink{}, Options{Visits: &visitSink{}})
	defer c.Close(context.Background())
	h := stats.Hit{Addr: netip.MustParseAddr("193.0.6.139"), UserAgent: testUA, Referrer: "t.co"}
	b.ReportAllocs()
	for b.Loop() {
		c.Visit("aZ3kP9qX", h)
	}
}

// TestCounterFoldsAVisitorsClicks: one visitor's clicks in a batch, in a run or interleaved with
// another's, become one visit each, carrying their number.
func TestCounterFoldsAVisitorsClicks(t *testing.T) {
	c := newCounter(discardSink{}, Options{Now: fixedNow, Visits: &visitSink{}})
	p := &pending{counts: map[key]tally{}, visits: map[visitKey]visitTally{}, days: map[int32]string{}}
	a := stats.Hit{Addr: netip.MustParseAddr("193.0.6.139"), UserAgent: testUA}
	b := stats.Hit{Addr: netip.MustParseAddr("133.11.0.1"), UserAgent: testUA}
	for i := range 1000 {
		c.add(p, event{id: "a", day: 1, visit: true, hit: a})
		if i%100 == 0 {
			c.add(p, event{id: "a", day: 1, visit: true, hit: b})
		}
	}
	batch := c.take(p)
	got := map[netip.Addr]int64{}
	for _, v := range batch.visits {
		got[v.hit.Addr] += v.clicks
	}
	if len(batch.visits) != 2 || got[a.Addr] != 1000 || got[b.Addr] != 10 {
		t.Errorf("batch = %+v, want a visit of 1000 clicks and one of 10", batch.visits)
	}
	if c.Pending() != 1010 {
		t.Errorf("Pending = %d, want 1010 held", c.Pending())
	}
}
