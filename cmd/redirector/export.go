package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redirector/redirector/internal/aliurl"
	"github.com/redirector/redirector/internal/bio"
	"github.com/redirector/redirector/internal/link"
	"github.com/redirector/redirector/internal/redirect"
	"github.com/redirector/redirector/internal/shortid"
	"github.com/redirector/redirector/internal/store"
)

// maxImportLine bounds one line of an import.
const maxImportLine = 64 << 10

// runExport writes every record, tombstones included, with its click totals, to stdout as JSON
// Lines: from the configured Redis or the embedded store in DATA_DIR (while no process runs on it),
// or with -from from a running server's /api/export.
func runExport(ctx context.Context, args, environ []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("export", stderr)
	from := fs.String("from", "", "a running redirector's base URL to export from (uses ADMIN_TOKEN); default: the configured Redis")
	if help, err := parseFlags(fs, args); help || err != nil {
		return err
	}
	if *from != "" {
		return exportFrom(ctx, *from, environ, stdout, stderr)
	}
	rdb, closeFn, err := openForBackup(ctx, fs.Args(), environ, true, stderr)
	if err != nil {
		return err
	}
	defer closeFn()
	w := bufio.NewWriter(stdout)
	enc := json.NewEncoder(w)
	n := 0
	err = redirect.Export(ctx, store.NewRecords(rdb), store.NewCounters(rdb, 0), func(l redirect.ExportLine) error {
		n++
		return enc.Encode(l)
	})
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	// Pages after the links their items name.
	pages := 0
	err = bio.NewStore(rdb, 0).Each(ctx, func(p bio.Page) error {
		pages++
		return enc.Encode(redirect.NewPageExportLine(p))
	})
	if err != nil {
		return fmt.Errorf("export pages: %w", err)
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	fmt.Fprintf(stderr, "exported %d records and %d pages\n", n, pages)
	return nil
}

// runImport reads JSON Lines from stdin and writes them to the store. Every line is checked
// before anything is written, so a bad file writes nothing; importing a file twice changes nothing.
// It reports on stderr how many records it created, updated (an older one replaced) and left
// unchanged (the stored one was as new or newer), and how many links' totals it raised: a line's
// clicks and scans are set as the link's totals unless these are higher already, never added.
func runImport(ctx context.Context, args, environ []string, stdin io.Reader, stderr io.Writer) error {
	fs := newFlagSet("import", stderr)
	csvFile := fs.String("csv", "", "a CSV file of links to create (columns url, slug, label, channel, fallback_url) instead of JSON Lines from stdin")
	if help, err := parseFlags(fs, args); help || err != nil {
		return err
	}
	if *csvFile != "" && fs.NArg() == 0 {
		return importCSV(ctx, *csvFile, environ, stderr)
	}
	if fs.NArg() > 0 {
		return usageError(fmt.Sprintf("unexpected argument %q (import reads its records from stdin)", fs.Arg(0)))
	}
	var recs []importLine
	var pages []bio.Page
	sc := bufio.NewScanner(stdin)
	sc.Buffer(make([]byte, 0, 4096), maxImportLine)
	latest := time.Now().Add(importAhead)
	line := 1
	for ; sc.Scan(); line++ {
		if len(sc.Bytes()) == 0 {
			continue
		}
		if p, ok, err := parsePageLine(sc.Bytes(), latest); ok || err != nil {
			if err != nil {
				return usageError(fmt.Sprintf("import: line %d: %v; nothing was written", line, err))
			}
			pages = append(pages, p)
			continue
		}
		rec, err := parseLine(sc.Bytes(), latest)
		if err != nil {
			return usageError(fmt.Sprintf("import: line %d: %v; nothing was written", line, err))
		}
		recs = append(recs, rec)
	}
	if err := sc.Err(); err != nil {
		return usageError(fmt.Sprintf("import: line %d: read: %v; nothing was written", line, err))
	}
	rdb, closeFn, err := openForBackup(ctx, nil, environ, false, stderr)
	if err != nil {
		return err
	}
	defer closeFn()
	records := store.NewRecords(rdb)
	counters := store.NewCounters(rdb, 0)
	var changes importChanges
	raised := 0
	for _, l := range recs {
		rec := l.rec
		change, err := records.Restore(ctx, rec)
		if err == nil || change != store.Unchanged {
			changes[change]++
		}
		if err != nil {
			return fmt.Errorf("import %s: %w (so far %v; run it again)", rec.ID, err, changes)
		}
		// The index that makes creating the same page twice give one id is rebuilt for the
		// links that need it (a product code finds itself from the product).
		// A link on a channel of its own never holds the page's shared id (shortlink.Service.CreateOn).
		if !rec.Deleted && rec.Channel == "" && shortid.Classify(rec.ID) != shortid.KindProduct {
			if _, _, err := records.SetTargetID(ctx, rec.Target, rec.ID); err != nil {
				return fmt.Errorf("import %s: index target: %w (so far %v; run it again)", rec.ID, err, changes)
			}
		}
		// A custom slug is matched ignoring case (store.Records.CreateSlug): give it its entry.
		if !rec.Deleted && shortid.Classify(rec.ID) == shortid.KindSlug {
			if _, err := records.IndexSlug(ctx, rec.ID); err != nil {
				return fmt.Errorf("import %s: index slug: %w (so far %v; run it again)", rec.ID, err, changes)
			}
		}
		if l.clicks > 0 || l.scans > 0 {
			up, err := counters.RestoreTotals(ctx, rec.ID, l.clicks, l.scans)
			if err != nil {
				return fmt.Errorf("import %s: %w (so far %v; run it again)", rec.ID, err, changes)
			}
			if up {
				raised++
			}
		}
	}
	written := 0
	pageStore := bio.NewStore(rdb, 0)
	for _, p := range pages {
		ok, err := pageStore.Put(ctx, p)
		if err != nil {
			return fmt.Errorf("import page %s: %w (records: %v; run it again)", p.Handle, err, changes)
		}
		if ok {
			written++
		}
	}
	totals := ""
	if raised > 0 {
		totals = fmt.Sprintf("; click totals raised for %d", raised)
	}
	fmt.Fprintf(stderr, "%d records read: %v%s\n", len(recs), changes, totals)
	if len(pages) > 0 {
		fmt.Fprintf(stderr, "%d pages read: %d written, %d unchanged\n", len(pages), written, len(pages)-written)
	}
	return nil
}

// parsePageLine reads a line that holds a bio page (kind "page"): ok=false, no error, for a line
// of another kind. The page is checked as the API checks one, its times as parseLine checks a
// record's.
func parsePageLine(b []byte, latest time.Time) (bio.Page, bool, error) {
	l, err := redirect.ParseExportLine(b)
	if err != nil || l.Kind == "" {
		return bio.Page{}, false, nil // a record's line: parseLine says what is wrong with it
	}
	if l.Kind != redirect.KindPage {
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
		if f.t.Before(importEarliest) || f.t.After(latest) {
			return bio.Page{}, true, fmt.Errorf("page %s: %s %s is out of range", p.Handle, f.name, f.t.UTC().Format(time.RFC3339Nano))
		}
	}
	return p, true, nil
}

// importChanges counts the records of an import by what writing them did (store.Change): created,
// replaced an older one, or found the same or a newer one stored.
type importChanges [3]int

func (c importChanges) String() string {
	return fmt.Sprintf("%d created, %d updated, %d unchanged", c[store.Created], c[store.Updated], c[store.Unchanged])
}

// Import time bounds: a record's times lie between importEarliest and a day ahead of the importer's
// clock. Put keeps the record with the later updated_at, so a far-future time would win every later
// import, and a time before the service could exist is a broken file.
var importEarliest = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

const importAhead = 24 * time.Hour

// importLine is one checked line of an import: the record and its totals.
type importLine struct {
	rec           link.Record
	clicks, scans int64
}

// parseLine checks one exported record: exact field names, each once, a well-formed id, an
// accepted, canonical target, times from importEarliest to latest, and counts from 0 with no
// more scans than clicks.
func parseLine(b []byte, latest time.Time) (importLine, error) {
	l, err := redirect.ParseExportLine(b)
	if err != nil {
		return importLine{}, fmt.Errorf("malformed JSON: %w", err)
	}
	rec, err := checkRecordLine(l, latest)
	if err != nil {
		return importLine{}, err
	}
	if l.Clicks < 0 || l.Scans < 0 || l.Scans > l.Clicks {
		return importLine{}, fmt.Errorf("clicks %d and scans %d: counts are from 0, and scans are a part of clicks", l.Clicks, l.Scans)
	}
	return importLine{rec: rec, clicks: l.Clicks, scans: l.Scans}, nil
}

// checkRecordLine checks the record of one line.
func checkRecordLine(l redirect.ExportLine, latest time.Time) (link.Record, error) {
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
		if f.t.Before(importEarliest) || f.t.After(latest) {
			return link.Record{}, fmt.Errorf("%s %s is out of range: times run from %s to a day ahead of now (%s)",
				f.name, f.t.UTC().Format(time.RFC3339Nano), importEarliest.Format(time.DateOnly), latest.UTC().Format(time.RFC3339))
		}
	}
	if l.Channel != "" && !validTrackingID(l.Channel) {
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

// openForBackup connects to the configured Redis for export and import, or opens the embedded store
// in DATA_DIR when none is configured (for export, only one that exists: an empty one made by a
// mistyped DATA_DIR would export nothing and say nothing).
func openForBackup(ctx context.Context, args, environ []string, forExport bool, stderr io.Writer) (redis.UniversalClient, func(), error) {
	if len(args) > 0 {
		return nil, nil, usageError(fmt.Sprintf("unexpected argument %q", args[0]))
	}
	cfg, err := loadConfig(environ, true)
	if err != nil {
		return nil, nil, err
	}
	if !cfg.usesRedis() {
		path := dataFile(cfg.DataDir)
		if _, err := os.Stat(path); forExport && err != nil {
			return nil, nil, usageError(fmt.Sprintf("no embedded store at %s: set DATA_DIR to its directory, or REDIS_URL to export from Redis", path))
		}
		rdb, closeFn, err := store.Embedded(cfg.DataDir)
		if err != nil {
			return nil, nil, fmt.Errorf("%w (a running redirector can be exported with export -from its URL)", err)
		}
		return rdb, closeFn, nil
	}
	st, err := openStore(ctx, cfg, slog.New(slog.NewTextHandler(stderr, nil)))
	if err != nil {
		return nil, nil, err
	}
	if err := st.ping(ctx); err != nil {
		st.close()
		return nil, nil, fmt.Errorf("redis at REDIS_URL is not answering: %w", err)
	}
	return st.rdb, st.close, nil
}

// exportFrom copies a running server's /api/export to stdout.
func exportFrom(ctx context.Context, base string, environ []string, stdout, stderr io.Writer) error {
	cfg, err := loadConfig(environ, true)
	if err != nil {
		return err
	}
	if cfg.AdminToken == "" {
		return usageError("export -from needs ADMIN_TOKEN, the server's admin token")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(base, "/")+"/api/export", nil)
	if err != nil {
		return usageError(fmt.Sprintf("export -from %q: %v", base, err))
	}
	req.Header.Set("Authorization", "Bearer "+cfg.AdminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("export from %s: %w", base, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		return fmt.Errorf("export from %s: %s: %s", base, resp.Status, strings.TrimSpace(string(msg)))
	}
	n, err := io.Copy(stdout, resp.Body)
	if err != nil {
		return fmt.Errorf("export from %s: %w (the export is incomplete)", base, err)
	}
	fmt.Fprintf(stderr, "exported %d bytes from %s\n", n, base)
	return nil
}
