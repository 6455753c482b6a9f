package listing

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/redirector/redirector/internal/link"
)

func entries(n int) []Entry {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	out := make([]Entry, n)
	for i := range out {
		out[i] = Entry{Record: link.Record{ID: fmt.Sprintf("id-%03d", i), Created: t0.Add(time.Duration(i/2) * time.Second)}, Clicks: int64(i % 3)}
	}
	return out
}

// A cursor is a position: links added or removed between pages neither repeat nor skip the others,
// also among equal sort keys.
func TestRunCursorIsAPosition(t *testing.T) {
	for _, q := range []Query{{}, {Sort: ByClicks}, {Sort: ByClicks, Asc: true}, {Asc: true}} {
		all := entries(20)
		page, ok := Run(slices.Clone(all), q, "", 7)
		if !ok || page.Total != 20 || len(page.Entries) != 7 || page.Next == "" {
			t.Fatalf("%+v: first page %d entries, total %d, next %q", q, len(page.Entries), page.Total, page.Next)
		}
		var got []string
		for _, e := range page.Entries {
			got = append(got, e.Record.ID)
		}
		// A new link (the newest, most clicked) and one of those not yet listed removed.
		next := append(slices.Clone(all), Entry{Record: link.Record{ID: "id-new", Created: all[19].Record.Created.Add(time.Hour)}, Clicks: 9})
		full, _ := Run(slices.Clone(all), q, "", 100)
		removed := full.Entries[10].Record.ID
		next = slices.DeleteFunc(next, func(e Entry) bool { return e.Record.ID == removed })
		for cursor := page.Next; cursor != ""; {
			p, ok := Run(slices.Clone(next), q, cursor, 7)
			if !ok {
				t.Fatalf("%+v: cursor %q refused", q, cursor)
			}
			for _, e := range p.Entries {
				got = append(got, e.Record.ID)
			}
			cursor = p.Next
		}
		// Want: the first page, then what follows its last link in the new order.
		fullNext, _ := Run(slices.Clone(next), q, "", 100)
		want := slices.Clone(got[:7])
		lastFirst := slices.IndexFunc(fullNext.Entries, func(e Entry) bool { return e.Record.ID == got[6] })
		for _, e := range fullNext.Entries[lastFirst+1:] {
			want = append(want, e.Record.ID)
		}
		if !slices.Equal(got, want) || slices.Contains(got, removed) {
			t.Errorf("%+v: paged %q, want %q (what follows the cursor in the new order, %s gone)", q, got, want, removed)
		}
		if _, ok := Run(slices.Clone(all), Query{Sort: ByEarnings}, page.Next, 7); ok {
			t.Errorf("%+v: its cursor was taken for sort=earnings", q)
		}
	}
}
