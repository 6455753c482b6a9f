package backup

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// Parse numbers lines from 1, empty ones too, names every bad line, and keeps the good ones in order.
func TestParseNamesEveryBadLine(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	good := `{"id":"spring-sale","target":"https://www.aliexpress.com/item/1005001000000001.html","created_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-02T00:00:00Z","clicks":3,"scans":1}`
	page := `{"kind":"page","page":{"handle":"ana","title":"Ana","items":[{"heading":"Desk"}],"created_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-01T00:00:00Z"}}`
	tests := []struct {
		name    string
		in      string
		records int
		pages   int
		bad     map[int]string
	}{
		{"good", good + "\n\n" + page + "\n", 1, 1, nil},
		{"bad lines", strings.Join([]string{
			good,
			`{"id":"spring-sale","target":"https://example.com/","created_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-01T00:00:00Z"}`,
			"",
			`{"ID":"x"}`,
			strings.Replace(good, `"scans":1`, `"scans":4`, 1),
			strings.Replace(good, "2026-01-02", "2026-05-03", 1),
			`{"kind":"book"}`,
		}, "\n"), 1, 0, map[int]string{2: "target", 4: "unknown field", 5: "scans are a part of clicks", 6: "out of range", 7: `unknown kind "book"`}},
	}
	for _, tc := range tests {
		f, bad, err := Parse(strings.NewReader(tc.in), now)
		if err != nil || len(f.Records) != tc.records || len(f.Pages) != tc.pages || len(bad) != len(tc.bad) {
			t.Errorf("%s: Parse = %d records, %d pages, bad %+v, %v; want %d, %d, bad lines %v", tc.name, len(f.Records), len(f.Pages), bad, err, tc.records, tc.pages, tc.bad)
			continue
		}
		for _, b := range bad {
			if says, ok := tc.bad[b.Line]; !ok || !strings.Contains(b.Error, says) {
				t.Errorf("%s: line %d: %q, want it named for %q", tc.name, b.Line, b.Error, tc.bad[b.Line])
			}
		}
	}
	if f, _, _ := Parse(strings.NewReader(good), now); f.Records[0].Clicks != 3 || f.Records[0].Scans != 1 || f.Records[0].Rec.ID != "spring-sale" {
		t.Errorf("Parse(good) = %+v, want spring-sale with 3 clicks and 1 scan", f.Records[0])
	}
}

// A line past MaxLine stops the read with a *ReadError naming it.
func TestParseLongLine(t *testing.T) {
	in := "\n" + `{"id":"` + strings.Repeat("a", MaxLine) + `"}` + "\n"
	_, _, err := Parse(strings.NewReader(in), time.Now())
	var re *ReadError
	if !errors.As(err, &re) || re.Line != 2 {
		t.Errorf("Parse(a line past MaxLine) = %v, want a *ReadError at line 2", err)
	}
}
