package redirect

import (
	"context"
	"encoding/csv"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/redirector/redirector/internal/earnings"
	"github.com/redirector/redirector/internal/link"
	"github.com/redirector/redirector/internal/listing"
	"github.com/redirector/redirector/internal/shortid"
	"github.com/redirector/redirector/internal/store"
)

// Bounds of GET /api/links's parameters.
const (
	maxQueryText = 200  // q, in bytes
	maxListIDs   = 1000 // ids
)

// csvLabelSep separates a link's labels in one CSV cell, in import and export: "|", not ";", which
// spreadsheets in many locales write as the field separator.
const csvLabelSep = "|"

// listRequest is a checked GET /api/links query.
type listRequest struct {
	query  listing.Query
	cursor string
	limit  int
	csv    bool
}

// parseList reads GET /api/links's parameters; its error (link.ErrInvalid) names the bad one.
func parseList(d Deps, v url.Values) (listRequest, error) {
	req := listRequest{limit: listDefault, cursor: v.Get("cursor")}
	for name, vals := range v {
		if len(vals) > 1 {
			return req, link.Invalid(name + " is given more than once")
		}
	}
	switch v.Get("format") {
	case "", "json":
	case "csv":
		req.csv = true
	default:
		return req, link.Invalid("format must be json or csv")
	}
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > listMax {
			return req, link.Invalid("limit must be a whole number from 1 to " + strconv.Itoa(listMax))
		}
		req.limit = n
	}
	q := &req.query
	q.Text = strings.TrimSpace(v.Get("q"))
	if len(q.Text) > maxQueryText {
		return req, link.Invalid("q is longer than " + strconv.Itoa(maxQueryText) + " bytes")
	}
	if strings.IndexFunc(q.Text, unicode.IsControl) >= 0 {
		return req, link.Invalid("q holds a control character")
	}
	if s := v.Get("sort"); s != "" {
		var ok bool
		if q.Sort, ok = listing.ParseSort(s); !ok {
			return req, link.Invalid("sort must be one of created, clicks, last_click, earnings")
		}
	}
	switch v.Get("order") {
	case "", "desc":
	case "asc":
		q.Asc = true
	default:
		return req, link.Invalid("order must be asc or desc")
	}
	if v.Has("health") {
		var ok bool
		if q.Health, ok = link.ParseHealthState(v.Get("health")); !ok || d.Health == nil {
			return req, link.Invalid("health must be one of ok, untagged, gone, unknown, page")
		}
		q.HealthSet = true
	}
	if v.Has("channel") {
		ch, ok := d.Channels.normalize(v.Get("channel"))
		if !ok {
			return req, link.Invalid("channel: unknown channel: it must be one of ALIEXPRESS_TRACKING_IDS")
		}
		q.Channel, q.ChannelSet = ch, true
	}
	if s := v.Get("label"); s != "" {
		ls, err := link.NewLabels([]string{s})
		if err != nil {
			return req, link.Invalid("label: " + err.Error())
		}
		if all := ls.All(); len(all) == 1 {
			q.Label = all[0]
		}
	}
	if v.Has("ids") {
		q.IDs = []string{}
		for _, id := range strings.Split(v.Get("ids"), ",") {
			if id = strings.TrimSpace(id); id == "" {
				continue
			}
			if !shortid.Valid(id) {
				return req, link.Invalid("ids: " + strconv.Quote(id) + " is not a link id")
			}
			if len(q.IDs) == maxListIDs {
				return req, link.Invalid("ids: at most " + strconv.Itoa(maxListIDs) + " ids")
			}
			q.IDs = append(q.IDs, id)
		}
	}
	return req, nil
}

// handleList serves GET /api/links: the live links that match q, health, channel, label and ids, in
// the order of sort and order (default: newest first), limit at a time from cursor, with their total;
// with format=csv, every match as CSV. It reads every live link with its counts and health in a few
// pipelined round trips (store.Records.Listing), then searches and sorts in memory (internal/listing).
func handleList(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		req, err := parseList(d, r.URL.Query())
		if err != nil {
			fail(w, d, err, "")
			return
		}
		entries, orders, err := listEntries(ctx, d)
		if err != nil {
			fail(w, d, err, "")
			return
		}
		limit := req.limit
		if req.csv {
			req.cursor, limit = "", len(entries)
		}
		page, ok := listing.Run(entries, req.query, req.cursor, limit)
		if !ok {
			fail(w, d, link.ErrBadCursor, "")
			return
		}
		ids := make([]string, len(page.Entries))
		for i, e := range page.Entries {
			ids[i] = e.Record.ID
		}
		visitors, err := d.Stats.Visitors(ctx, ids, statsDays, d.Now())
		if err != nil {
			fail(w, d, err, "")
			return
		}
		if req.csv {
			writeLinksCSV(w, d, page.Entries, visitors)
			return
		}
		out := struct {
			Links      []linkJSON `json:"links"`
			Total      int        `json:"total"`
			NextCursor string     `json:"next_cursor,omitempty"`
		}{Links: make([]linkJSON, len(page.Entries)), Total: page.Total, NextCursor: page.Next}
		for i, e := range page.Entries {
			out.Links[i] = listedJSON(d, e, visitors[i], orders[e.Record.ID])
		}
		writeJSON(w, http.StatusOK, out)
	})
}

// listEntries reads every live link with what the list shows, and each link's orders' totals.
func listEntries(ctx context.Context, d Deps) ([]listing.Entry, map[string]earnings.Totals, error) {
	listed, err := d.Records.Listing(ctx)
	if err != nil {
		return nil, nil, err
	}
	var totals map[string]earnings.Totals
	if d.Earnings != nil {
		// Every order kept (they expire after their retention), once, rather than a read per link.
		orders, err := d.Earnings.Range(ctx, time.Unix(0, 0), d.Now().Add(48*time.Hour))
		if err != nil {
			return nil, nil, err
		}
		totals = make(map[string]earnings.Totals)
		for _, o := range orders {
			if o.LinkID == "" {
				continue
			}
			t := totals[o.LinkID]
			t.Add(o)
			totals[o.LinkID] = t
		}
	}
	entries := make([]listing.Entry, len(listed))
	for i, l := range listed {
		entries[i] = listing.Entry{Record: l.Record, Health: l.Health, Clicks: l.Clicks, Scans: l.Scans, Bio: l.Bio, LastClick: l.LastClick}
		if t, ok := totals[l.Record.ID]; ok {
			entries[i].Orders, entries[i].Commission = t.Orders, t.Estimated
		}
	}
	return entries, totals, nil
}

// listedJSON is a listed link as the API shows it: the record, its product, health, counts (visitors
// over the last statsDays days) and, when orders are synced, its earnings.
func listedJSON(d Deps, e listing.Entry, visitors int64, orders earnings.Totals) linkJSON {
	l := toJSON(d, e.Record)
	l.Clicks, l.Scans, l.Bio, l.Visitors = &e.Clicks, &e.Scans, &e.Bio, &visitors
	if !e.LastClick.IsZero() {
		t := e.LastClick.UTC()
		l.LastClickAt = &t
	}
	if d.Health != nil {
		h := e.Health
		hj := &healthJSON{State: h.State}
		if !h.Seen.IsZero() {
			t := h.Seen.UTC()
			hj.SeenAt = &t
		}
		l.Health = hj
		if p := h.Product; p.Title != "" {
			l.Product = &productJSON{Title: p.Title, Image: p.Image, Price: p.Price, Currency: p.Currency, CommissionRate: p.CommissionRate}
		}
	}
	if d.Earnings != nil {
		ej := earningsJSON{Totals: orders}
		if e.Clicks > 0 {
			ej.Conversion = float64(ej.Orders) / float64(e.Clicks)
			ej.CommissionPerClk = float64(ej.Estimated) / float64(e.Clicks)
		}
		l.Earnings = &ej
	}
	return l
}

// linksCSVHeader are the columns of GET /api/links?format=csv.
var linksCSVHeader = []string{"id", "short_url", "url", "slug", "labels", "channel", "fallback_url", "clicks",
	"visitors", "created", "last_click", "health", "orders", "commission"}

// writeLinksCSV answers the entries as CSV: one row per link, labels joined by csvLabelSep, times in
// RFC 3339 (UTC), commission in cents of the orders' currency.
func writeLinksCSV(w http.ResponseWriter, d Deps, entries []listing.Entry, visitors []int64) {
	h := w.Header()
	h.Set("Content-Type", "text/csv; charset=utf-8")
	h.Set("Content-Disposition", `attachment; filename="links.csv"`)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	cw := csv.NewWriter(w)
	_ = cw.Write(linksCSVHeader)
	for i, e := range entries {
		rec := e.Record
		slug := ""
		if shortid.Classify(rec.ID) == shortid.KindSlug {
			slug = rec.ID
		}
		last := ""
		if !e.LastClick.IsZero() {
			last = e.LastClick.UTC().Format(time.RFC3339)
		}
		state := ""
		if d.Health != nil {
			state = string(e.Health.State)
		}
		_ = cw.Write([]string{csvSafe(rec.ID), d.BaseURL + "/" + rec.ID, rec.Target, csvSafe(slug),
			csvSafe(strings.Join(rec.Labels.All(), csvLabelSep)), csvSafe(rec.Channel), rec.Fallback,
			i64(e.Clicks), i64(visitors[i]), rec.Created.UTC().Format(time.RFC3339), last, state,
			i64(e.Orders), i64(e.Commission)})
	}
	cw.Flush()
}

// Listing is what the list reads; *store.Records is one (see Records).
type Listing interface {
	Listing(ctx context.Context) ([]store.Listed, error)
}
