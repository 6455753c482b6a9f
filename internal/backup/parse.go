package backup

import (
	"bufio"
	"fmt"
	"io"
	"time"

	"github.com/redirector/redirector/internal/aliurl"
	"github.com/redirector/redirector/internal/bio"
	"github.com/redirector/redirector/internal/link"
	"github.com/redirector/redirector/internal/shortid"
)

// MaxLine bounds one line of an import.
const MaxLine = 64 << 10

// Import time bounds: a record's times lie between Earliest and Ahead past the importer's clock.
// Put keeps the record with the later updated_at, so a far-future time would win every later
// import, and a time before the service could exist is a broken file.
var Earliest = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// Ahead is how far past the importer's clock a time of an import may lie.
const Ahead = 24 * time.Hour

// Record is one checked record line of an import: the record and its totals.
type Record struct {
	Rec           link.Record
	Clicks, Scans int64
}

// File is a checked import: its records, then its bio pages, in the order of the file.
type File struct {
	Records []Record
	Pages   []bio.Page
}

// LineError is what is wrong with one line of an import (lines are counted from 1, empty ones too).
type LineError struct {
	Line  int    `json:"line"`
	Error string `json:"error"`
}

// ReadError is a failure to read an import at a line: a line longer than MaxLine, or the reader's
// own error (which Unwrap gives).
type ReadError struct {
	Line int
	Err  error
}

func (e *ReadError) Error() string { return fmt.Sprintf("line %d: read: %v", e.Line, e.Err) }
func (e *ReadError) Unwrap() error { return e.Err }

// Parse reads an import of JSON Lines from r and checks every line: a record as CheckRecord does,
// its totals from 0 with no more scans than clicks, a page as CheckPage does, times from Earliest to
// Ahead past now. Empty lines are skipped. bad lists every bad line in order; the file is good
// when bad is empty and err nil. err is a *ReadError: the lines before it were checked.
func Parse(r io.Reader, now time.Time) (f File, bad []LineError, err error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), MaxLine)
	latest := now.Add(Ahead)
	line := 1
	for ; sc.Scan(); line++ {
		if len(sc.Bytes()) == 0 {
			continue
		}
		if p, ok, err := parsePageLine(sc.Bytes(), latest); ok || err != nil {
			if err != nil {
				bad = append(bad, LineError{line, err.Error()})
			} else {
				f.Pages = append(f.Pages, p)
			}
			continue
		}
		rec, err := ParseRecord(sc.Bytes(), latest)
		if err != nil {
			bad = append(bad, LineError{line, err.Error()})
			continue
		}
		f.Records = append(f.Records, rec)
	}
	if err := sc.Err(); err != nil {
		return f, bad, &ReadError{Line: line, Err: err}
	}
	return f, bad, nil
}

// parsePageLine reads a line that holds a bio page (kind "page"): ok=false, no error, for a line
// of another kind. The page is checked as the API checks one, its times as a record's are.
func parsePageLine(b []byte, latest time.Time) (bio.Page, bool, error) {
	l, err := ParseLine(b)
	if err != nil || l.Kind == "" {
		return bio.Page{}, false, nil // a record's line: ParseRecord says what is wrong with it
	}
	if l.Kind != KindPage {
		return bio.Page{}, true, fmt.Errorf("unknown kind %q", l.Kind)
	}
	if l.Page == nil || l.ID != "" || l.Target != "" || !l.CreatedAt.IsZero() || !l.UpdatedAt.IsZero() || l.Deleted {
		return bio.Page{}, true, fmt.Errorf(`a page's line is {"kind":"page","page":{…}} and nothing else`)
	}
	p := *l.Page
	if err := bio.Check(p, true); err != nil {
		return bio.Page{}, true, fmt.Errorf("page: %w", err)
	}
	for _, f := range []struct {
		name string
		t    time.Time
	}{{"created_at", p.Created}, {"updated_at", p.Updated}} {
		if f.t.Before(Earliest) || f.t.After(latest) {
			return bio.Page{}, true, fmt.Errorf("page %s: %s %s is out of range", p.Handle, f.name, f.t.UTC().Format(time.RFC3339Nano))
		}
	}
	return p, true, nil
}

// ParseRecord checks one exported record line: exact field names, each once, the record as
// CheckRecord checks it, and counts from 0 with no more scans than clicks.
func ParseRecord(b []byte, latest time.Time) (Record, error) {
	l, err := ParseLine(b)
	if err != nil {
		return Record{}, fmt.Errorf("malformed JSON: %w", err)
	}
	rec, err := CheckRecord(l, latest)
	if err != nil {
		return Record{}, err
	}
	if l.Clicks < 0 || l.Scans < 0 || l.Scans > l.Clicks {
		return Record{}, fmt.Errorf("clicks %d and scans %d: counts are from 0, and scans are a part of clicks", l.Clicks, l.Scans)
	}
	return Record{Rec: rec, Clicks: l.Clicks, Scans: l.Scans}, nil
}

// CheckRecord checks the record of one line and returns it: a well-formed id, an accepted,
// canonical target (and plan B), times from Earliest to latest, a well-formed channel and labels.
func CheckRecord(l Line, latest time.Time) (link.Record, error) {
	if !shortid.Valid(l.ID) {
		return link.Record{}, fmt.Errorf("id %q is not a valid short-link id", l.ID)
	}
	p, err := aliurl.Parse(l.Target)
	if err != nil {
		return link.Record{}, fmt.Errorf("target %q: %w", l.Target, err)
	}
	if p.Kind == aliurl.Share || p.URL != l.Target {
		return link.Record{}, fmt.Errorf("target %q is not canonical (want %q)", l.Target, p.URL)
	}
	if l.CreatedAt.IsZero() || l.UpdatedAt.IsZero() {
		return link.Record{}, fmt.Errorf("created_at and updated_at are required")
	}
	for _, f := range []struct {
		name string
		t    time.Time
	}{{"created_at", l.CreatedAt}, {"updated_at", l.UpdatedAt}} {
		if f.t.Before(Earliest) || f.t.After(latest) {
			return link.Record{}, fmt.Errorf("%s %s is out of range: times run from %s to a day ahead of now (%s)",
				f.name, f.t.UTC().Format(time.RFC3339Nano), Earliest.Format(time.DateOnly), latest.UTC().Format(time.RFC3339))
		}
	}
	if l.Channel != "" && !link.ValidChannel(l.Channel) {
		return link.Record{}, fmt.Errorf("channel %q is not a tracking id (1 to 64 letters, digits, _ or -)", l.Channel)
	}
	rec := link.Record{ID: l.ID, Target: l.Target, Created: l.CreatedAt, Updated: l.UpdatedAt, Deleted: l.Deleted, Channel: l.Channel}
	if l.FallbackURL != "" {
		fb, err := aliurl.Parse(l.FallbackURL)
		if err != nil {
			return link.Record{}, fmt.Errorf("fallback_url %q: %w", l.FallbackURL, err)
		}
		if fb.Kind == aliurl.Share || fb.URL != l.FallbackURL {
			return link.Record{}, fmt.Errorf("fallback_url %q is not canonical (want %q)", l.FallbackURL, fb.URL)
		}
		rec.Fallback = fb.URL
	}
	switch {
	case l.FallbackWhen != "" && l.FallbackWhen != link.FallbackUntagged:
		return link.Record{}, fmt.Errorf(`fallback_when %q: must be "untagged" or left out`, l.FallbackWhen)
	case l.FallbackWhen != "" && rec.Fallback == "":
		return link.Record{}, fmt.Errorf("fallback_when needs a fallback_url")
	}
	rec.FallbackWhen = l.FallbackWhen
	if rec.Labels, err = link.NewLabels(l.Labels); err != nil {
		return link.Record{}, fmt.Errorf("labels: %w", err)
	}
	return rec, nil
}
