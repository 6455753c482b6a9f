package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/redirector/redirector/internal/linkcsv"
	"github.com/redirector/redirector/internal/redirect"
	"github.com/redirector/redirector/internal/shortlink"
	"github.com/redirector/redirector/internal/store"
)

// csvLinks reads the live links from the records and makes new ones through the service, as POST
// /api/import does.
type csvLinks struct {
	*store.Records
	*shortlink.Service
}

// Listing and CreateSpec are unambiguous: only one of the two has each.
var _ linkcsv.Links = csvLinks{}

// noChanges announces nothing: the CLI has no replicas to tell; a new link is a miss on each.
type noChanges struct{}

func (noChanges) RecordChanged(context.Context, string) {}

// importCSV is `redirector import --csv FILE`: the links of a CSV file (linkcsv's columns) made in the
// store (REDIS_URL, or DATA_DIR) as POST /api/import makes them: every row checked before anything is
// written, each bad row named on stderr and nothing written when one is; importing the file again
// creates nothing. Channels are checked against ALIEXPRESS_TRACKING_IDS.
func importCSV(ctx context.Context, path string, environ []string, stderr io.Writer) error {
	cfg, err := loadConfig(environ, true)
	if err != nil {
		return err
	}
	f, err := os.Open(path)
	if err != nil {
		return usageError(fmt.Sprintf("import --csv: %v", err))
	}
	defer f.Close()
	rows, err := linkcsv.Parse(f)
	if err != nil {
		if errors.Is(err, linkcsv.ErrFile) {
			return usageError(fmt.Sprintf("import --csv %s: %v; nothing was written", path, err))
		}
		return fmt.Errorf("import --csv %s: %w", path, err)
	}
	rdb, closeFn, err := openForBackup(ctx, nil, environ, false, stderr)
	if err != nil {
		return err
	}
	defer closeFn()
	records := store.NewRecords(rdb)
	channels := redirect.Channels{Default: cfg.TrackingID, List: cfg.TrackingIDs}
	im := linkcsv.Importer{Links: csvLinks{records, shortlink.NewService(records, noChanges{})}, Channel: channels.Normalize, Now: time.Now}
	res, bad, err := im.Import(ctx, rows)
	if err != nil {
		return fmt.Errorf("import --csv %s: %w", path, err)
	}
	if len(bad) > 0 {
		for _, b := range bad {
			fmt.Fprintf(stderr, "row %d: %s\n", b.Row, b.Error)
		}
		return usageError(fmt.Sprintf("import --csv %s: %d of %d rows are bad; nothing was written", path, len(bad), len(rows)))
	}
	fmt.Fprintf(stderr, "%d rows read: %d links created, %d unchanged\n", len(rows), res.Created, res.Unchanged)
	return nil
}
