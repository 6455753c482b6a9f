package redirect

import (
	"context"
	"errors"
	"fmt"
	"mime"
	"net/http"

	"github.com/redirector/redirector/internal/linkcsv"
	"github.com/redirector/redirector/internal/store"
)

// maxImportBody bounds a POST /api/import body: larger than the API's other bodies (maxBody), enough
// for linkcsv.MaxRows rows.
const maxImportBody = 8 << 20

// importLinks is what an import reads (the live links) and writes (new links, as POST /api/links).
type importLinks struct {
	list Listing
	ShortLinks
}

func (l importLinks) Listing(ctx context.Context) ([]store.Listed, error) { return l.list.Listing(ctx) }

// Normalize returns the channel to tag a link with: "" for the default channel, else ch itself; ok=false
// when ch is not configured. It is for imports outside the server (`redirector import --csv`).
func (c Channels) Normalize(ch string) (string, bool) { return c.normalize(ch) }

// handleImport serves POST /api/import: a CSV file of links (Content-Type text/csv; linkcsv says
// which columns and rows), every row checked before any link is written. 400 with each bad row's
// error and nothing written when any row is bad, 413 past maxImportBody, 415 for another type;
// else 200 with how many links were created and how many rows were links already (unchanged), and
// each row's link.
func handleImport(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "text/csv" {
			writeError(w, http.StatusUnsupportedMediaType, "Content-Type must be text/csv (JSON Lines are imported with `redirector import`)")
			return
		}
		rows, err := linkcsv.Parse(http.MaxBytesReader(w, r.Body, maxImportBody))
		var tooBig *http.MaxBytesError
		switch {
		case errors.As(err, &tooBig):
			writeError(w, http.StatusRequestEntityTooLarge, "body is larger than 8 MiB: split the file")
			return
		case err != nil:
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		im := linkcsv.Importer{Links: importLinks{list: d.Records, ShortLinks: d.ShortLinks}, Channel: d.Channels.normalize, Now: d.Now}
		res, bad, err := im.Import(ctx, rows)
		if err != nil {
			fail(w, d, err, "a slug of the file was taken meanwhile: import it again")
			return
		}
		if len(bad) > 0 {
			writeJSON(w, http.StatusBadRequest, struct {
				Error string             `json:"error"`
				Rows  []linkcsv.RowError `json:"rows"`
			}{fmt.Sprintf("%d of %d rows are bad; nothing was written", len(bad), len(rows)), bad})
			return
		}
		type rowJSON struct {
			Row      int    `json:"row"`
			ID       string `json:"id"`
			ShortURL string `json:"short_url"`
			Created  bool   `json:"created"`
		}
		out := struct {
			Created   int       `json:"created"`
			Unchanged int       `json:"unchanged"`
			Links     []rowJSON `json:"links"`
		}{Created: res.Created, Unchanged: res.Unchanged, Links: make([]rowJSON, len(res.Rows))}
		for i, o := range res.Rows {
			out.Links[i] = rowJSON{Row: o.Row, ID: o.Link.ID, ShortURL: d.BaseURL + "/" + o.Link.ID, Created: o.Created}
		}
		writeJSON(w, http.StatusOK, out)
	})
}
