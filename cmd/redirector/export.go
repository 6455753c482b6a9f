package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redirector/redirector/internal/aliurl"
	"github.com/redirector/redirector/internal/link"
	"github.com/redirector/redirector/internal/redirect"
	"github.com/redirector/redirector/internal/shortid"
	"github.com/redirector/redirector/internal/store"
)

// maxImportLine bounds one line of an import.
const maxImportLine = 64 << 10

// runExport writes every record, tombstones included, to stdout as JSON Lines: from the configured
// Redis, or with -from from a running server's /api/export (how the records of a process on the
// embedded store are moved to Redis).
func runExport(ctx context.Context, args, environ []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("export", stderr)
	from := fs.String("from", "", "a running redirector's base URL to export from (uses ADMIN_TOKEN); default: the configured Redis")
	if help, err := parseFlags(fs, args); help || err != nil {
		return err
	}
	if *from != "" {
		return exportFrom(ctx, *from, environ, stdout, stderr)
	}
	rdb, closeFn, err := openForBackup(ctx, fs.Args(), environ, stderr)
	if err != nil {
		return err
	}
	defer closeFn()
	w := bufio.NewWriter(stdout)
	enc := json.NewEncoder(w)
	n := 0
	err = store.NewRecords(rdb).Each(ctx, func(r link.Record) error {
		n++
		return enc.Encode(redirect.NewExportLine(r))
	})
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	fmt.Fprintf(stderr, "exported %d records\n", n)
	return nil
}

// runImport reads JSON Lines from stdin and writes them to the store. Every line is checked
// before anything is written, so a bad file writes nothing; importing a file twice changes nothing.
// It reports on stderr how many records it created, updated (an older one replaced) and left
// unchanged (the stored one was as new or newer).
func runImport(ctx context.Context, args, environ []string, stdin io.Reader, stderr io.Writer) error {
	fs := newFlagSet("import", stderr)
	if help, err := parseFlags(fs, args); help || err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError(fmt.Sprintf("unexpected argument %q (import reads its records from stdin)", fs.Arg(0)))
	}
	var recs []link.Record
	sc := bufio.NewScanner(stdin)
	sc.Buffer(make([]byte, 0, 4096), maxImportLine)
	latest := time.Now().Add(importAhead)
	line := 1
	for ; sc.Scan(); line++ {
		if len(sc.Bytes()) == 0 {
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
	rdb, closeFn, err := openForBackup(ctx, nil, environ, stderr)
	if err != nil {
		return err
	}
	defer closeFn()
	records := store.NewRecords(rdb)
	var changes importChanges
	for _, rec := range recs {
		change, err := records.Restore(ctx, rec)
		if err == nil || change != store.Unchanged {
			changes[change]++
		}
		if err != nil {
			return fmt.Errorf("import %s: %w (so far %v; run it again)", rec.ID, err, changes)
		}
		// The index that makes creating the same page twice give one id is rebuilt for the
		// links that need it (a product code finds itself from the product).
		if !rec.Deleted && shortid.Classify(rec.ID) != shortid.KindProduct {
			if _, _, err := records.SetTargetID(ctx, rec.Target, rec.ID); err != nil {
				return fmt.Errorf("import %s: index target: %w (so far %v; run it again)", rec.ID, err, changes)
			}
		}
	}
	fmt.Fprintf(stderr, "%d records read: %v\n", len(recs), changes)
	return nil
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

// parseLine checks one exported record: exact field names, each once, a well-formed id, an
// accepted, canonical target, and times from importEarliest to latest.
func parseLine(b []byte, latest time.Time) (link.Record, error) {
	l, err := redirect.ParseExportLine(b)
	if err != nil {
		return link.Record{}, fmt.Errorf("malformed JSON: %w", err)
	}
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
	rec := link.Record{ID: l.ID, Target: l.Target, Created: l.CreatedAt, Updated: l.UpdatedAt, Deleted: l.Deleted}
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
	return rec, nil
}

// openForBackup connects to REDIS_URL for export and import.
func openForBackup(ctx context.Context, args, environ []string, stderr io.Writer) (redis.UniversalClient, func(), error) {
	if len(args) > 0 {
		return nil, nil, usageError(fmt.Sprintf("unexpected argument %q", args[0]))
	}
	cfg, err := loadConfig(environ, true)
	if err != nil {
		return nil, nil, err
	}
	if !cfg.usesRedis() {
		return nil, nil, usageError("REDIS_URL is required: export and import work on a Redis store (the embedded store lives only inside a running process)")
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
