// Package linkcsv imports short links from CSV: a file is read and every row checked before any link is
// written, and importing the same file again creates nothing.
package linkcsv

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/redirector/redirector/internal/aliurl"
	"github.com/redirector/redirector/internal/link"
	"github.com/redirector/redirector/internal/shortid"
	"github.com/redirector/redirector/internal/shortlink"
	"github.com/redirector/redirector/internal/store"
)

// Columns are the columns a file may have, in any order; url is required.
var Columns = []string{"url", "slug", "label", "channel", "fallback_url"}

// LabelSep separates several labels in one cell of the label column (and of the labels column of the
// export): "|", not ";", which spreadsheets in many locales write as the field separator.
const LabelSep = "|"

// MaxRows bounds the rows of one file.
const MaxRows = 10_000

// ErrFile is wrapped by Parse's errors about the file as a whole (its header, its CSV, its size).
var ErrFile = errors.New("bad CSV file")

// Row is one row of a file, as written. Line is its number as a spreadsheet shows it: the header is
// row 1.
type Row struct {
	Line                                int
	URL, Slug, Label, Channel, Fallback string
	fields, header                      int // how many fields it had, and the header; Import checks they agree
}

// RowError says what is wrong with one row.
type RowError struct {
	Row   int    `json:"row"`
	Error string `json:"error"`
}

// Parse reads a CSV file of links: UTF-8 with or without a byte order mark, a header row naming columns
// of Columns (any order, any case, each once; url required), then one row per link. A row whose field
// count differs from the header's is reported by Check. Errors wrap ErrFile and say what is wrong: an
// empty file, an unknown, repeated or missing column, a CSV syntax error (with its line), more than
// MaxRows rows, or text that is not UTF-8.
func Parse(r io.Reader) ([]Row, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	data = bytes.TrimPrefix(data, []byte("\uFEFF"))
	if !utf8.Valid(data) {
		return nil, fmt.Errorf("%w: not UTF-8: save it as CSV UTF-8", ErrFile)
	}
	cr := csv.NewReader(bytes.NewReader(data))
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: empty: the first row names the columns (%s)", ErrFile, strings.Join(Columns, ", "))
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFile, err)
	}
	pos := make(map[string]int, len(header))
	for i, name := range header {
		name = strings.ToLower(strings.TrimSpace(name))
		known := false
		for _, c := range Columns {
			known = known || c == name
		}
		switch {
		case !known:
			return nil, fmt.Errorf("%w: unknown column %q: the columns are %s", ErrFile, header[i], strings.Join(Columns, ", "))
		case pos[name] != 0:
			return nil, fmt.Errorf("%w: column %q is given twice", ErrFile, name)
		}
		pos[name] = i + 1
	}
	if pos["url"] == 0 {
		return nil, fmt.Errorf("%w: no url column: the header row names the columns (%s)", ErrFile, strings.Join(Columns, ", "))
	}
	cell := func(rec []string, name string) string {
		if i := pos[name]; i > 0 && i <= len(rec) {
			return rec[i-1]
		}
		return ""
	}
	var rows []Row
	for n := 2; ; n++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return rows, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrFile, err)
		}
		if len(rows) == MaxRows {
			return nil, fmt.Errorf("%w: more than %d rows: split the file", ErrFile, MaxRows)
		}
		rows = append(rows, Row{Line: n, URL: cell(rec, "url"), Slug: cell(rec, "slug"), Label: cell(rec, "label"),
			Channel: cell(rec, "channel"), Fallback: cell(rec, "fallback_url"), fields: len(rec), header: len(header)})
	}
}

// Links is what an import reads and writes; store.Records and shortlink.Service are the two halves.
type Links interface {
	// Listing returns every live link.
	Listing(ctx context.Context) ([]store.Listed, error)
	// CreateSpec makes a link as POST /api/links does.
	CreateSpec(ctx context.Context, spec shortlink.Spec, now time.Time) (link.Record, bool, error)
}

// Importer imports checked rows.
type Importer struct {
	Links Links
	// Channel returns the channel a row's channel cell names ("" the default one); ok=false when it is
	// not one of the configured channels.
	Channel func(string) (string, bool)
	Now     func() time.Time
}

// Outcome is what the import did with one row.
type Outcome struct {
	Row     int         `json:"row"`
	Link    link.Record `json:"-"`
	Created bool        `json:"created"` // false: an existing link was the row's already
}

// Result is a whole import's outcome.
type Result struct {
	Created, Unchanged int
	Rows               []Outcome
}

// planned is a checked row: the link it asks for, and the existing link that is it already, if any.
type planned struct {
	row      int
	spec     shortlink.Spec
	existing *link.Record
	sameAs   int // a row earlier in the file that asks for the same link (0: none)
}

// Import checks every row, and writes only if all are good: it returns the errors of the bad rows,
// having written nothing, or the outcome of each row. A row is:
//   - url: an accepted AliExpress page (share links are not followed here: give the page);
//   - slug (optional): a valid slug (shortid.CheckSlug). A live link that has it (in any case) and
//     leads to the same page on the same channel is the row's link already; one to another page is an
//     error. Without a slug, a live link with a product code or random id to the same page on the same
//     channel is the row's link; else one is made as POST /api/links makes it;
//   - label: labels separated by LabelSep (link.NewLabels); channel: a configured channel or empty;
//     fallback_url: an accepted page or empty.
//
// Existing links are left as they are (their labels and plan B too), so importing a file twice creates
// nothing the second time. Rows that ask for the same link twice (the same slug, or the same page and
// channel without one) make it once; the same slug for two different pages is an error. The writes
// are not one transaction: a store failing midway leaves the links made so far, and importing the
// file again completes it.
func (im Importer) Import(ctx context.Context, rows []Row) (Result, []RowError, error) {
	live, err := im.Links.Listing(ctx)
	if err != nil {
		return Result{}, nil, err
	}
	bySlug := make(map[string]link.Record)   // lower-case id → live link
	byTarget := make(map[string]link.Record) // target \x00 channel → a live link without a slug
	for _, l := range live {
		rec := l.Record
		bySlug[strings.ToLower(rec.ID)] = rec
		if shortid.Classify(rec.ID) != shortid.KindSlug {
			byTarget[rec.Target+"\x00"+rec.Channel] = rec
		}
	}
	var plan []planned
	var bad []RowError
	fileSlugs := make(map[string]int)   // lower-case slug → index in plan
	fileTargets := make(map[string]int) // target \x00 channel → index in plan
	for _, row := range rows {
		p, err := im.check(row)
		if err != nil {
			bad = append(bad, RowError{Row: row.Line, Error: err.Error()})
			continue
		}
		key := p.spec.Page.URL + "\x00" + p.spec.Channel
		if slug := strings.ToLower(p.spec.Slug); slug != "" {
			if i, dup := fileSlugs[slug]; dup {
				if first := plan[i]; first.spec.Page.URL != p.spec.Page.URL || first.spec.Channel != p.spec.Channel {
					bad = append(bad, RowError{Row: row.Line, Error: fmt.Sprintf("slug %q is on row %d already, for another page or channel", p.spec.Slug, first.row)})
					continue
				}
				p.sameAs = plan[i].row
			} else if rec, ok := bySlug[slug]; ok {
				if rec.Target != p.spec.Page.URL || rec.Channel != p.spec.Channel {
					bad = append(bad, RowError{Row: row.Line, Error: fmt.Sprintf("slug %q is taken by a link to another page or channel (%s)", p.spec.Slug, rec.ID)})
					continue
				}
				p.existing = &rec
			}
			if p.sameAs == 0 {
				fileSlugs[slug] = len(plan)
			}
		} else {
			if i, dup := fileTargets[key]; dup {
				p.sameAs = plan[i].row
			} else {
				if rec, ok := byTarget[key]; ok {
					p.existing = &rec
				}
				fileTargets[key] = len(plan)
			}
		}
		plan = append(plan, p)
	}
	if len(bad) > 0 {
		return Result{}, bad, nil
	}
	res := Result{Rows: make([]Outcome, 0, len(plan))}
	made := make(map[int]link.Record) // row → the link written for it
	for _, p := range plan {
		out := Outcome{Row: p.row}
		switch {
		case p.sameAs != 0:
			out.Link = made[p.sameAs]
		case p.existing != nil:
			out.Link = *p.existing
		default:
			rec, created, err := im.Links.CreateSpec(ctx, p.spec, im.Now())
			if err != nil {
				return res, nil, fmt.Errorf("row %d: %w (%d links made so far; import the file again to finish)", p.row, err, res.Created)
			}
			out.Link, out.Created = rec, created
		}
		made[p.row] = out.Link
		if out.Created {
			res.Created++
		} else {
			res.Unchanged++
		}
		res.Rows = append(res.Rows, out)
	}
	return res, nil, nil
}

// check reads one row into the link it asks for.
func (im Importer) check(row Row) (planned, error) {
	if row.fields != row.header {
		return planned{}, fmt.Errorf("%d fields, the header has %d", row.fields, row.header)
	}
	p := planned{row: row.Line}
	var err error
	if p.spec.Page, err = page(strings.TrimSpace(row.URL)); err != nil {
		return p, fmt.Errorf("url: %w", err)
	}
	if p.spec.Slug = strings.TrimSpace(row.Slug); p.spec.Slug != "" {
		if err := shortid.CheckSlug(p.spec.Slug); err != nil {
			return p, fmt.Errorf("slug: %w", err)
		}
	}
	ch, ok := im.Channel(strings.TrimSpace(row.Channel))
	if !ok {
		return p, fmt.Errorf("channel %q is not one of ALIEXPRESS_TRACKING_IDS", strings.TrimSpace(row.Channel))
	}
	p.spec.Channel = ch
	if fb := strings.TrimSpace(row.Fallback); fb != "" {
		if p.spec.Fallback, err = page(fb); err != nil {
			return p, fmt.Errorf("fallback_url: %w", err)
		}
	}
	if row.Label != "" {
		labels, err := link.NewLabels(strings.Split(row.Label, LabelSep))
		if err != nil {
			return p, fmt.Errorf("label: %w", err)
		}
		p.spec.Labels = labels.All()
	}
	return p, nil
}

// page accepts a URL as POST /api/links does, but does not follow share links.
func page(raw string) (aliurl.Page, error) {
	if raw == "" {
		return aliurl.Page{}, errors.New("empty")
	}
	p, err := aliurl.Parse(raw)
	if err != nil {
		return p, err
	}
	if p.Kind == aliurl.Share {
		return p, errors.New("a share link: open it and give the page's own URL")
	}
	return p, nil
}
