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

	"github.com/redirector/redirector/internal/backup"
	"github.com/redirector/redirector/internal/bio"
	"github.com/redirector/redirector/internal/link"
	"github.com/redirector/redirector/internal/redirect"
	"github.com/redirector/redirector/internal/store"
)

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
	f, bad, err := backup.Parse(stdin, time.Now())
	if len(bad) > 0 {
		return usageError(fmt.Sprintf("import: line %d: %s; nothing was written", bad[0].Line, bad[0].Error))
	}
	if err != nil {
		return usageError(fmt.Sprintf("import: %v; nothing was written", err))
	}
	rdb, closeFn, err := openForBackup(ctx, nil, environ, false, stderr)
	if err != nil {
		return err
	}
	defer closeFn()
	// No replicas to tell: the CLI runs on a store no process serves, or on one whose processes see
	// the changes within RECORD_CACHE_TTL.
	res, err := backup.Restorer{Records: store.NewRecords(rdb), Counters: store.NewCounters(rdb, 0), Pages: bio.NewStore(rdb, 0)}.Restore(ctx, f)
	if err != nil {
		return err
	}
	totals := ""
	if res.Raised > 0 {
		totals = fmt.Sprintf("; click totals raised for %d", res.Raised)
	}
	fmt.Fprintf(stderr, "%d records read: %v%s\n", len(f.Records), res.Records, totals)
	if len(f.Pages) > 0 {
		fmt.Fprintf(stderr, "%d pages read: %d written, %d unchanged\n", len(f.Pages), res.PagesWritten, len(f.Pages)-res.PagesWritten)
	}
	return nil
}

// importAhead is how far past the importer's clock a time of an import may lie.
const importAhead = backup.Ahead

// importLine is one checked line of an import: the record and its totals.
type importLine struct {
	rec           link.Record
	clicks, scans int64
}

// parseLine checks one exported record (backup.ParseRecord).
func parseLine(b []byte, latest time.Time) (importLine, error) {
	r, err := backup.ParseRecord(b, latest)
	if err != nil {
		return importLine{}, err
	}
	return importLine{rec: r.Rec, clicks: r.Clicks, scans: r.Scans}, nil
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
