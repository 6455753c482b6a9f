package main

import (
	"strings"
	"testing"
	"time"
)

// TestParseLineFallback: an export line's plan B is read back as a target is, canonical and on
// AliExpress, or the line is refused.
func TestParseLineFallback(t *testing.T) {
	latest := time.Now().Add(importAhead)
	const head = `{"id":"abc","target":"https://www.aliexpress.com/item/1005001.html","created_at":"2025-01-01T00:00:00Z","updated_at":"2025-01-01T00:00:00Z"`
	for _, tc := range []struct {
		name, tail, fallback, when, err string
	}{
		{name: "none", tail: `}`},
		{name: "plan B", tail: `,"fallback_url":"https://www.aliexpress.com/item/1005002.html","fallback_when":"untagged"}`,
			fallback: "https://www.aliexpress.com/item/1005002.html", when: "untagged"},
		{name: "off aliexpress", tail: `,"fallback_url":"https://evil.example.com/item/1.html"}`, err: "fallback_url"},
		{name: "not canonical", tail: `,"fallback_url":"http://aliexpress.com/item/1005002.html?spm=x"}`, err: "not canonical"},
		{name: "when alone", tail: `,"fallback_when":"untagged"}`, err: "needs a fallback_url"},
		{name: "bad when", tail: `,"fallback_url":"https://www.aliexpress.com/item/1005002.html","fallback_when":"x"}`, err: "fallback_when"},
	} {
		rec, err := parseLine([]byte(head+tc.tail), latest)
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%s: parseLine = %+v, %v; want an error about %s", tc.name, rec, err, tc.err)
		case tc.err == "" && (err != nil || rec.rec.Fallback != tc.fallback || rec.rec.FallbackWhen != tc.when):
			t.Errorf("%s: parseLine = %+v, %v; want fallback %q when %q", tc.name, rec, err, tc.fallback, tc.when)
		}
	}
}
