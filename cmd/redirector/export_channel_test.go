package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/redirector/redirector/internal/link"
	"github.com/redirector/redirector/internal/redirect"
)

// TestExportLineChannel: a record's channel goes through export and import; a malformed one is refused.
func TestExportLineChannel(t *testing.T) {
	now := time.Now().UTC().Truncate(time.Millisecond)
	rec := link.Record{ID: "abcd2345", Target: "https://www.aliexpress.com/item/1005001.html", Created: now, Updated: now, Channel: "chan_b"}
	b, err := jsonLine(redirect.NewExportLine(rec, link.Stats{}))
	if err != nil {
		t.Fatal(err)
	}
	got, err := parseLine(b, now.Add(time.Hour))
	if err != nil {
		t.Fatalf("parseLine(%s): %v", b, err)
	}
	if got.rec != rec {
		t.Errorf("parseLine(%s) = %+v, want %+v", b, got.rec, rec)
	}
	bad := strings.Replace(string(b), "chan_b", "chan b;", 1)
	if _, err := parseLine([]byte(bad), now.Add(time.Hour)); err == nil {
		t.Errorf("parseLine(%s) = nil error, want the channel refused", bad)
	}
}

func jsonLine(l redirect.ExportLine) ([]byte, error) { return json.Marshal(l) }
