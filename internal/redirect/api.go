package redirect

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	"github.com/julienschmidt/httprouter"

	"github.com/redirector/redirector/internal/aliurl"
	"github.com/redirector/redirector/internal/backup"
	"github.com/redirector/redirector/internal/bio"
	"github.com/redirector/redirector/internal/link"
	"github.com/redirector/redirector/internal/shortid"
	"github.com/redirector/redirector/internal/shortlink"
	"github.com/redirector/redirector/internal/webhook"
)

// maxBody bounds an admin API request body.
const maxBody = 64 << 10

// statsDays is how many days of counts a link's record shows.
const statsDays = 30

// listDefault and listMax bound a page of GET /api/links.
const (
	listDefault = 50
	listMax     = 1000
)

// isAPI reports whether path is under /api/.
func isAPI(path string) bool { return path == "/api" || strings.HasPrefix(path, "/api/") }

// bearerToken reads the token of an Authorization header as RFC 9110 and RFC 6750 write it:
// the scheme name "Bearer" in any case, one or more spaces, the token; whitespace around the
// whole is ignored. ok is false for another scheme or no token.
func bearerToken(header string) (token string, ok bool) {
	scheme, token, found := strings.Cut(strings.TrimSpace(header), " ")
	token = strings.TrimLeft(token, " ")
	if !found || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return "", false
	}
	return token, true
}

// linkJSON is a link as the admin API shows it.
type linkJSON struct {
	ID        string    `json:"id"`
	ShortURL  string    `json:"short_url"`
	Target    string    `json:"target"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	QRPNG     string    `json:"qr_png"`
	QRSVG     string    `json:"qr_svg"`
	Warnings  []string  `json:"warnings,omitzero"`
	// The plan B and the link's health (see internal/health and api_health.go).
	FallbackURL  string        `json:"fallback_url,omitempty"`
	FallbackWhen string        `json:"fallback_when,omitempty"`
	Health       *healthJSON   `json:"health,omitempty"`
	Product      *productJSON  `json:"product,omitempty"`
	Clicks       *int64        `json:"clicks,omitempty"`
	Scans        *int64        `json:"scans,omitempty"`
	Bio          *int64        `json:"bio,omitempty"`      // clicks from bio pages' items
	Visitors     *int64        `json:"visitors,omitempty"` // over the days of Daily
	Daily        []dayJSON     `json:"daily,omitempty"`
	Channel      string        `json:"channel,omitempty"`
	Earnings     *earningsJSON `json:"earnings,omitempty"`
	Labels       []string      `json:"labels"`                  // always present: [] for none
	LastClickAt  *time.Time    `json:"last_click_at,omitempty"` // in lists: the last click, when known

	// HealthHistory, on GET /api/links/{id} alone: the last changes of Health's state, newest first.
	HealthHistory []healthChangeJSON `json:"health_history,omitempty"`
}

type dayJSON struct {
	Date     string `json:"date"`
	Clicks   int64  `json:"clicks"`
	Scans    int64  `json:"scans"`
	Bio      int64  `json:"bio,omitempty"`
	Visitors int64  `json:"visitors"`
}

func toJSON(d Deps, rec link.Record) linkJSON {
	short := d.BaseURL + "/" + rec.ID
	return linkJSON{
		ID: rec.ID, ShortURL: short, Target: rec.Target,
		CreatedAt: rec.Created.UTC(), UpdatedAt: rec.Updated.UTC(),
		QRPNG: short + "/qr.png", QRSVG: short + "/qr.svg", Channel: rec.Channel,
		FallbackURL: rec.Fallback, FallbackWhen: rec.FallbackWhen, Labels: labelsJSON(rec.Labels),
	}
}

// labelsJSON is a record's labels for JSON: [] for none, never null.
func labelsJSON(ls link.Labels) []string {
	if all := ls.All(); all != nil {
		return all
	}
	return []string{}
}

// withStats adds the link's counts; days=0 adds the totals alone.
func withStats(ctx context.Context, d Deps, l *linkJSON, days int) error {
	st, err := d.Stats.Stats(ctx, l.ID, days, d.Now())
	if err != nil {
		return err
	}
	l.Clicks, l.Scans, l.Bio = &st.Clicks, &st.Scans, &st.Bio
	if days > 0 {
		l.Visitors = &st.Visitors
		l.Daily = make([]dayJSON, len(st.Daily))
		for i, day := range st.Daily {
			l.Daily[i] = dayJSON{Date: day.Date, Clicks: day.Clicks, Scans: day.Scans, Bio: day.Bio, Visitors: day.Visitors}
		}
	}
	return nil
}

// urlBody is the body of POST /api/links.
type urlBody struct {
	URL     string `json:"url"`
	Slug    string `json:"slug,omitempty"`
	Channel string `json:"channel,omitempty"`
	// FallbackURL and FallbackWhen are the plan B (PATCH changes them too: patchBody).
	FallbackURL  string `json:"fallback_url,omitempty"`
	FallbackWhen string `json:"fallback_when,omitempty"`
	// Labels are the link's campaign names (link.NewLabels); PATCH replaces them.
	Labels []string `json:"labels,omitempty"`
}

// handleCreate serves POST /api/links: 201 with a new link, 200 with the existing one for the
// same product (or page) asked again without a slug, 400 for a bad URL or slug, 409 for a taken slug.
// Which id the link gets is ShortLinks.Create's to decide.
func handleCreate(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		var body urlBody
		if !decodeBody(w, r, &body) {
			return
		}
		page, err := accept(ctx, d, body.URL)
		if err != nil {
			fail(w, d, err, "")
			return
		}
		ch, ok := d.Channels.normalize(body.Channel)
		if !ok {
			fail(w, d, link.Invalid("unknown channel: it must be one of ALIEXPRESS_TRACKING_IDS"), "")
			return
		}
		spec := shortlink.Spec{Page: page, Slug: body.Slug, FallbackWhen: body.FallbackWhen, Channel: ch, Labels: body.Labels}
		if body.FallbackURL != "" {
			if spec.Fallback, err = accept(ctx, d, body.FallbackURL); err != nil {
				fail(w, d, link.Invalid("fallback_url: "+err.Error()), "")
				return
			}
		}
		rec, created, err := d.ShortLinks.CreateSpec(ctx, spec, d.Now())
		if err != nil {
			fail(w, d, err, "slug is already taken")
			return
		}
		status := http.StatusOK
		if created {
			status = http.StatusCreated
		}
		warnings := pasteWarnings(body.URL)
		l := toJSON(d, rec)
		if d.Health != nil {
			warnings = append(warnings, d.Health.Inspect(ctx, rec)...)
			withHealth(ctx, d, []*linkJSON{&l})
		}
		if created {
			emit(d, webhook.LinkCreated, l)
		}
		writeJSON(w, status, withWarnings(l, warnings))
	})
}

// withWarnings returns l with warnings, never nil: the answers of POST and PATCH always have "warnings" (what was
// done to the URL given), the others never.
func withWarnings(l linkJSON, warnings []string) linkJSON {
	if warnings == nil {
		warnings = []string{}
	}
	l.Warnings = warnings
	return l
}

// pasteWarnings says what Parse left out of a URL given to the API: the punctuation pasted at its end.
func pasteWarnings(raw string) []string {
	if _, removed := aliurl.TrimPasted(raw); removed != "" {
		return []string{fmt.Sprintf("removed trailing %q pasted with the URL", removed)}
	}
	return nil
}

// accept checks a URL given to the admin API and follows a share link to its page. Its errors are
// link.ErrInvalid, saying why.
func accept(ctx context.Context, d Deps, raw string) (aliurl.Page, error) {
	if raw == "" {
		return aliurl.Page{}, link.Invalid("url is required")
	}
	page, err := aliurl.Parse(raw)
	if err != nil {
		return page, link.Invalid(err.Error())
	}
	if page.Kind == aliurl.Share {
		if page, err = d.Shares.Resolve(ctx, page); err != nil {
			return page, link.Invalid("the share link could not be followed: " + err.Error())
		}
	}
	return page, nil
}

// handleGet serves GET /api/links/{id}: the record with its counts.
func handleGet(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		id, ok := linkID(w, r)
		if !ok {
			return
		}
		rec, ok, err := d.Records.Get(ctx, id)
		if err != nil {
			fail(w, d, err, "")
			return
		}
		if !ok || rec.Deleted {
			fail(w, d, link.ErrNotFound, "")
			return
		}
		l := toJSON(d, rec)
		if err := withStats(ctx, d, &l, statsDays); err != nil {
			fail(w, d, err, "")
			return
		}
		if err := linkEarnings(ctx, d, &l); err != nil {
			fail(w, d, err, "")
			return
		}
		withHealth(ctx, d, []*linkJSON{&l})
		withHealthHistory(ctx, d, &l)
		writeJSON(w, http.StatusOK, l)
	})
}

// patchBody is the body of PATCH /api/links/{id}: a field left out is left as it is. A null or ""
// fallback_url clears the plan B; url cannot be cleared.
type patchBody struct {
	URL          jsontext.Value `json:"url"`
	FallbackURL  jsontext.Value `json:"fallback_url"`
	FallbackWhen jsontext.Value `json:"fallback_when"`
	// Slug is refused with a reason rather than as an unknown field.
	Slug jsontext.Value `json:"slug"`
	// Channel, one of ALIEXPRESS_TRACKING_IDS, moves the link's clicks to that tracking id; "" or null
	// (or the default tracking id) to the default channel.
	Channel jsontext.Value `json:"channel"`
	// Labels, an array of strings, replaces the link's labels; [] or null clears them.
	Labels jsontext.Value `json:"labels"`
}

// optLabels reads the labels of a patch: nil when left out; null reads as none.
func optLabels(v jsontext.Value) (*link.Labels, error) {
	if len(v) == 0 {
		return nil, nil
	}
	var list []string
	if v.Kind() != 'n' {
		if v.Kind() != '[' || jsonv2.Unmarshal(v, &list) != nil {
			return nil, link.Invalid("labels must be an array of strings or null")
		}
	}
	ls, err := link.NewLabels(list)
	if err != nil {
		return nil, err
	}
	return &ls, nil
}

// optString reads a member of a patch: set is false when it was left out; null reads as "".
func optString(v jsontext.Value, name string) (s string, set bool, err error) {
	switch {
	case len(v) == 0:
		return "", false, nil
	case v.Kind() == 'n':
		return "", true, nil
	case v.Kind() != '"':
		return "", false, link.Invalid(name + " must be a string or null")
	}
	if err := jsonv2.Unmarshal(v, &s); err != nil {
		return "", false, link.Invalid(name + " must be a string or null")
	}
	return s, true, nil
}

// handleRetarget serves PATCH /api/links/{id} with any of "url" (the link now leads there),
// "fallback_url" (its plan B; "" or null clears it), "fallback_when" ("untagged" or "") and "labels"
// (replacing the link's; [] or null clears them) and "channel", checked as POST checks them and written
// at once (ShortLinks.Patch): 400 and nothing written when any is bad.
func handleRetarget(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		id, ok := linkID(w, r)
		if !ok {
			return
		}
		var body patchBody
		if !decodeBody(w, r, &body) {
			return
		}
		if len(body.Slug) != 0 {
			fail(w, d, link.Invalid("a link's id cannot be changed; only url, fallback_url, fallback_when, labels and channel"), "")
			return
		}
		var spec shortlink.PatchSpec
		var warnings []string
		if raw, set, err := optString(body.Channel, "channel"); err != nil || set {
			ch, known := d.Channels.normalize(raw)
			if err == nil && !known {
				err = link.Invalid("unknown channel: it must be one of ALIEXPRESS_TRACKING_IDS")
			}
			if err != nil {
				fail(w, d, err, "")
				return
			}
			spec.Channel = &ch
		}
		rawURL, setURL, err := optString(body.URL, "url")
		if err == nil && setURL {
			if body.URL.Kind() == 'n' {
				err = link.Invalid("url cannot be null: a link always leads somewhere")
			} else {
				var page aliurl.Page
				if page, err = accept(ctx, d, rawURL); err == nil {
					spec.Target = &page
					warnings = append(warnings, pasteWarnings(rawURL)...)
				}
			}
		}
		if err == nil {
			var raw string
			if raw, ok, err = optString(body.FallbackURL, "fallback_url"); err == nil && ok {
				var page aliurl.Page
				if raw != "" {
					if page, err = accept(ctx, d, raw); err != nil {
						err = link.Invalid("fallback_url: " + err.Error())
					}
				}
				spec.Fallback = &page
			}
		}
		if err == nil {
			var when string
			if when, ok, err = optString(body.FallbackWhen, "fallback_when"); err == nil && ok {
				spec.FallbackWhen = &when
			}
		}
		if err == nil {
			var ls *link.Labels
			if ls, err = optLabels(body.Labels); err == nil && ls != nil {
				all := ls.All()
				spec.Labels = &all
			}
		}
		if err != nil {
			fail(w, d, err, "")
			return
		}
		rec, err := d.ShortLinks.Patch(ctx, id, spec, d.Now())
		if err != nil {
			fail(w, d, err, "")
			return
		}
		l := toJSON(d, rec)
		if d.Health != nil {
			withHealth(ctx, d, []*linkJSON{&l})
		}
		emit(d, webhook.LinkUpdated, l)
		writeJSON(w, http.StatusOK, withWarnings(l, warnings))
	})
}

// handleDelete serves DELETE /api/links/{id}: 204, and /{id} answers 404 from then on.
func handleDelete(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		id, ok := linkID(w, r)
		if !ok {
			return
		}
		if err := d.ShortLinks.Delete(ctx, id, d.Now()); err != nil {
			fail(w, d, err, "")
			return
		}
		emit(d, webhook.LinkDeleted, deletedJSON{ID: id})
		w.WriteHeader(http.StatusNoContent)
	})
}

// linkID returns the {id} of an /api/links/{id} request. An id that no link can have (not a
// well-formed id: a brace, a reserved word, too long) is answered 404 here, before the store,
// which would refuse it as an error.
func linkID(w http.ResponseWriter, r *http.Request) (string, bool) {
	id := httprouter.ParamsFromContext(r.Context()).ByName("id")
	if !shortid.Valid(id) {
		writeError(w, http.StatusNotFound, "no such link")
		return "", false
	}
	return id, true
}

// decodeBody reads one JSON object of at most maxBody bytes, strictly (strictJSON), with nothing
// after it. It answers the error itself and returns false when the body is bad.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := jsontext.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody), strictJSON)
	err := jsonv2.UnmarshalDecode(dec, v)
	if err == nil {
		// Anything but the end, a read error included (a body that grows past maxBody), is refused.
		if _, terr := dec.ReadToken(); terr != io.EOF {
			err = errors.Join(errTrailing, terr)
		}
	}
	var tooBig *http.MaxBytesError
	switch {
	case err == nil:
		return true
	case errors.As(err, &tooBig):
		writeError(w, http.StatusRequestEntityTooLarge, "body is larger than 64 KiB")
	case errors.Is(err, errTrailing):
		writeError(w, http.StatusBadRequest, "malformed JSON body: "+errTrailing.Error())
	case errors.Is(err, io.EOF):
		writeError(w, http.StatusBadRequest, "body must be a JSON object")
	default:
		writeError(w, http.StatusBadRequest, "malformed JSON body: "+backup.JSONReason(err))
	}
	return false
}

var errTrailing = errors.New("trailing data after the JSON object")

// strictJSON are the options JSON bodies are read with, as import lines are (backup.StrictJSON).
var strictJSON = backup.StrictJSON

// fail answers err with its status and a short message: the one table of errors to statuses of
// /api/. conflict is the message for link.ErrExists, which each call words for itself. An error it
// does not know is the store's (or the machine's): logged here, and 503.
func fail(w http.ResponseWriter, d Deps, err error, conflict string) {
	switch {
	case errors.Is(err, link.ErrInvalid):
		writeError(w, http.StatusBadRequest, err.Error())
	case errors.Is(err, link.ErrNotFound):
		writeError(w, http.StatusNotFound, "no such link")
	case errors.Is(err, link.ErrExists):
		writeError(w, http.StatusConflict, conflict)
	case errors.Is(err, link.ErrBadCursor):
		writeError(w, http.StatusBadRequest, "cursor is not one this API gave out")
	case errors.Is(err, shortlink.ErrNoFreeID):
		writeError(w, http.StatusServiceUnavailable, "could not draw a free id: try again")
	default:
		d.Logger.Error("store", "err", err)
		writeError(w, http.StatusServiceUnavailable, "the store is not answering: try again")
	}
}

// writeError answers a JSON error {"error": msg}.
func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, struct {
		Error string `json:"error"`
	}{msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"internal error"}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// ExportLine is one record in the JSON Lines form of GET /api/export and `redirector export`
// (backup.Line), which POST /api/import and `redirector import` read back.
type ExportLine = backup.Line

// PageExportLine is a bio page in an export (backup.PageLine).
type PageExportLine = backup.PageLine

// KindPage is the Kind of an export line that holds a bio page.
const KindPage = backup.KindPage

// NewPageExportLine is p as an export line.
func NewPageExportLine(p bio.Page) PageExportLine { return backup.NewPageLine(p) }

// ParseExportLine reads one line of an export strictly (backup.ParseLine).
func ParseExportLine(b []byte) (ExportLine, error) { return backup.ParseLine(b) }

// NewExportLine is rec as an export line, with its totals.
func NewExportLine(rec link.Record, totals link.Stats) ExportLine { return backup.NewLine(rec, totals) }

// exportBatch is how many records Export reads the totals of at once.
const exportBatch = 500

// Export calls emit with every record, deleted ones included, as an export line with its totals,
// in no particular order, and stops at the first error. emit is never called concurrently.
func Export(ctx context.Context, records Records, stats ClickStats, emit func(ExportLine) error) error {
	batch := make([]link.Record, 0, exportBatch)
	flush := func() error {
		ids := make([]string, len(batch))
		for i, r := range batch {
			ids[i] = r.ID
		}
		totals, err := stats.Totals(ctx, ids)
		if err != nil {
			return err
		}
		for i, r := range batch {
			if err := emit(NewExportLine(r, totals[i])); err != nil {
				return err
			}
		}
		batch = batch[:0]
		return nil
	}
	err := records.Each(ctx, func(rec link.Record) error {
		batch = append(batch, rec)
		if len(batch) == exportBatch {
			return flush()
		}
		return nil
	})
	if err != nil {
		return err
	}
	return flush()
}

// handleExport serves GET /api/export: every record, deleted ones included, with its totals, as JSON
// Lines. It is how the records and counts of a running process are moved to another store.
func handleExport(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-ndjson")
		enc := json.NewEncoder(w)
		started := false
		err := Export(r.Context(), d.Records, d.Stats, func(l ExportLine) error {
			started = true
			return enc.Encode(l)
		})
		if err == nil && d.Bio.Pages != nil {
			err = d.Bio.Pages.Each(r.Context(), func(p bio.Page) error {
				started = true
				return enc.Encode(NewPageExportLine(p))
			})
		}
		if err != nil {
			if !started {
				fail(w, d, err, "")
				return
			}
			// The status is sent: cut the stream so the client sees it incomplete.
			d.Logger.Error("export", "err", err)
			panic(http.ErrAbortHandler)
		}
	})
}
