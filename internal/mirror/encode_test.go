package mirror

import (
	"testing"
	"time"

	"github.com/redirector/redirector/internal/link"
)

// TestEncodeKeepsDiversionAndChannel: a record read from the mirror leads where it would from Redis:
// its diversion (a gone product's plan B) and its channel survive the file; a record without them is
// stored as before.
func TestEncodeKeepsDiversionAndChannel(t *testing.T) {
	now := time.UnixMilli(1_700_000_000_000).UTC()
	for _, rec := range []link.Record{
		{ID: "a", Target: "https://www.aliexpress.com/item/1005001.html", Created: now, Updated: now},
		{ID: "b", Target: "https://www.aliexpress.com/item/1005001.html", Created: now, Updated: now,
			Divert: "https://www.aliexpress.com/store/42", Channel: "chan_b"},
		{ID: "c", Target: "https://www.aliexpress.com/item/1005001.html", Created: now, Updated: now, Channel: "chan_c"},
		{ID: "d", Target: "https://www.aliexpress.com/item/1005001.html", Created: now, Updated: now, Deleted: true,
			Divert: "https://www.aliexpress.com/w/wholesale-lamp.html"},
		{ID: "e", Target: "https://www.aliexpress.com/item/1005001.html", Created: now, Updated: now, Labels: labels(t, "Summer", "flyer")},
		{ID: "f", Target: "https://www.aliexpress.com/item/1005001.html", Created: now, Updated: now, Channel: "chan_f",
			Divert: "https://www.aliexpress.com/store/42", Labels: labels(t, "x")},
	} {
		got, err := decode(rec.ID, encode(rec))
		if err != nil || got != rec {
			t.Errorf("decode(encode(%+v)) = %+v, %v", rec, got, err)
		}
	}
}

func labels(t *testing.T, ls ...string) link.Labels {
	t.Helper()
	l, err := link.NewLabels(ls)
	if err != nil {
		t.Fatal(err)
	}
	return l
}
