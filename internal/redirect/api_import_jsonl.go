package redirect

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/redirector/redirector/internal/backup"
	"github.com/redirector/redirector/internal/bio"
	"github.com/redirector/redirector/internal/link"
	"github.com/redirector/redirector/internal/store"
	"github.com/redirector/redirector/internal/webhook"
)

// importWriteTime is how long a JSON Lines import may take to write and answer: past the server's
// WriteTimeout (set for clicks), since a full 8 MiB file (about 50,000 records, a few Redis round trips
// each) took 16 s on a loaded test machine.
const importWriteTime = 5 * time.Minute

// maxLineErrors is how many bad lines a refused JSON Lines import lists; the message counts them all.
const maxLineErrors = 100

// importJSONLines serves POST /api/import of JSON Lines (what GET /api/export writes) as
// `redirector import` does: every line checked (backup.Parse) before anything is written; 400 with
// the bad lines and nothing written when any line is bad, 413 past maxImportBody. Else the records
// and pages are restored (backup.Restorer: the newer updated_at wins, totals are raised, never
// added, so importing twice changes nothing) and 200 says how many were created, updated and left
// unchanged. Each record written is announced to the replicas (RecordChanged) and to the webhooks.
func importJSONLines(w http.ResponseWriter, r *http.Request, d Deps) {
	f, bad, err := backup.Parse(http.MaxBytesReader(w, r.Body, maxImportBody), d.Now())
	var tooBig *http.MaxBytesError
	var readErr *backup.ReadError
	switch {
	case errors.As(err, &tooBig):
		writeError(w, http.StatusRequestEntityTooLarge, "body is larger than 8 MiB: split the file")
		return
	case errors.Is(err, bufio.ErrTooLong) && errors.As(err, &readErr):
		bad = append(bad, backup.LineError{Line: readErr.Line, Error: fmt.Sprintf("longer than %d KiB", backup.MaxLine>>10)})
	case errors.As(err, &readErr):
		bad = append(bad, backup.LineError{Line: readErr.Line, Error: "read: " + readErr.Err.Error()})
	}
	if len(bad) > 0 {
		msg := fmt.Sprintf("%d lines are bad; nothing was written", len(bad))
		if len(bad) == 1 {
			msg = fmt.Sprintf("line %d is bad; nothing was written", bad[0].Line)
		}
		writeJSON(w, http.StatusBadRequest, struct {
			Error string             `json:"error"`
			Lines []backup.LineError `json:"lines"`
		}{msg, bad[:min(len(bad), maxLineErrors)]})
		return
	}
	// The answer must outlive the writes; a server without deadlines (tests) says ErrNotSupported.
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(importWriteTime))
	re := d.Backup
	re.Written = func(ctx context.Context, rec link.Record, change store.Change) {
		if d.RecordChanged != nil {
			d.RecordChanged(ctx, rec.ID)
		}
		switch {
		case rec.Deleted:
			emit(d, webhook.LinkDeleted, deletedJSON{ID: rec.ID})
		case change == store.Created:
			emit(d, webhook.LinkCreated, toJSON(d, rec))
		default:
			emit(d, webhook.LinkUpdated, toJSON(d, rec))
		}
	}
	re.PageWritten = func(ctx context.Context, p bio.Page) {
		if key, ok := bio.Key(p.Handle); ok && d.Bio.Changed != nil {
			d.Bio.Changed(ctx, key)
		}
	}
	res, err := re.Restore(r.Context(), f)
	if err != nil {
		fail(w, d, err, "")
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Created        int `json:"created"`
		Updated        int `json:"updated"`
		Unchanged      int `json:"unchanged"`
		TotalsRaised   int `json:"totals_raised"`
		PagesWritten   int `json:"pages_written"`
		PagesUnchanged int `json:"pages_unchanged"`
	}{
		res.Records[store.Created], res.Records[store.Updated], res.Records[store.Unchanged], res.Raised,
		res.PagesWritten, len(f.Pages) - res.PagesWritten,
	})
}
