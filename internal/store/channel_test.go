package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redirector/redirector/internal/store"
)

// TestRecordsChannel: a record's channel is written by Create and Put, read by Get, List and Each, and
// kept by Retarget.
func TestRecordsChannel(t *testing.T) { forEachBackend(t, recordsChannel) }

func recordsChannel(t *testing.T, rdb redis.UniversalClient) {
	ctx := context.Background()
	rs := store.NewRecords(rdb)
	now := time.Now().UTC().Truncate(time.Millisecond)
	a := testRecord("chana", "https://www.aliexpress.com/item/1.html", now)
	a.Channel = "chan_b"
	mustCreateRecord(t, ctx, rs, a)
	if got := mustGetRecord(t, ctx, rs, "chana"); got.Channel != "chan_b" {
		t.Errorf("Get after Create: channel %q, want chan_b", got.Channel)
	}
	if _, err := rs.Retarget(ctx, "chana", "https://www.aliexpress.com/item/2.html", now.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if got := mustGetRecord(t, ctx, rs, "chana"); got.Channel != "chan_b" {
		t.Errorf("Get after Retarget: channel %q, want chan_b", got.Channel)
	}
	b := testRecord("chanb", "https://www.aliexpress.com/item/3.html", now)
	b.Channel = "chan_c"
	if err := rs.Put(ctx, b); err != nil {
		t.Fatal(err)
	}
	d := testRecord("chand", "https://www.aliexpress.com/item/4.html", now)
	mustCreateRecord(t, ctx, rs, d)
	recs, _, err := rs.List(ctx, "", 10)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"chana": "chan_b", "chanb": "chan_c", "chand": ""}
	for _, r := range recs {
		if r.Channel != want[r.ID] {
			t.Errorf("List: %s channel %q, want %q", r.ID, r.Channel, want[r.ID])
		}
	}
	if len(recs) != len(want) {
		t.Errorf("List: %d records, want %d", len(recs), len(want))
	}
}
