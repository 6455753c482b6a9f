package redirect

import (
	"encoding/csv"
	"net/http"
	"strconv"
	"time"

	"github.com/redirector/redirector/internal/link"
	"github.com/redirector/redirector/internal/stats"
	"github.com/redirector/redirector/internal/store"
)

// defaultStatsDays is the span of a stats request without from.
const defaultStatsDays = 30

// defaultStatsTop is how many values per dimension the stats endpoints list without Deps.StatsTop.
const defaultStatsTop = 50

// countJSON is one value of a dimension.
type countJSON struct {
	Value  string `json:"value"`
	Clicks int64  `json:"clicks"`
}

// statsJSON is the answer of the stats endpoints.
type statsJSON struct {
	ID       string      `json:"id,omitempty"`
	From     string      `json:"from"`
	To       string      `json:"to"`
	Clicks   int64       `json:"clicks"`
	Scans    int64       `json:"scans"`
	Visitors int64       `json:"visitors"`
	Country  []countJSON `json:"country"`
	Referrer []countJSON `json:"referrer"`
	Device   []countJSON `json:"device"`
	OS       []countJSON `json:"os"`
	Browser  []countJSON `json:"browser"`
	Source   []countJSON `json:"source"`
}

// handleLinkStats serves GET /api/links/{id}/stats?from=&to=[&format=csv]: the link's counts over the
// UTC days from from to to; 404 for a link that is not live.
func handleLinkStats(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, ok := linkID(w, r)
		if !ok {
			return
		}
		rec, ok, err := d.Records.Get(r.Context(), id)
		if err != nil {
			fail(w, d, err, "")
			return
		}
		if !ok || rec.Deleted {
			fail(w, d, link.ErrNotFound, "")
			return
		}
		serveStats(w, r, d, id)
	})
}

// handleAllStats serves GET /api/stats?from=&to=[&format=csv]: the counts across all links.
func handleAllStats(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		serveStats(w, r, d, "")
	})
}

// serveStats answers the counts of id ("" for all links) in the form the query asks for.
func serveStats(w http.ResponseWriter, r *http.Request, d Deps, id string) {
	q := r.URL.Query()
	format := q.Get("format")
	if format != "" && format != "json" && format != "csv" {
		fail(w, d, link.Invalid("format must be json or csv"), "")
		return
	}
	from, to, err := statsSpan(q.Get("from"), q.Get("to"), d.Now())
	if err != nil {
		fail(w, d, err, "")
		return
	}
	top := d.StatsTop
	if top <= 0 {
		top = defaultStatsTop
	}
	rep, err := d.Stats.Report(r.Context(), id, from, to, top)
	if err != nil {
		fail(w, d, err, "")
		return
	}
	out := statsJSON{ID: id, From: from.Format(time.DateOnly), To: to.Format(time.DateOnly),
		Clicks: rep.Clicks, Scans: rep.Scans, Visitors: rep.Visitors}
	for i, dst := range [stats.NumDims]*[]countJSON{&out.Country, &out.Referrer, &out.Device, &out.OS, &out.Browser, &out.Source} {
		*dst = make([]countJSON, len(rep.Dims[i]))
		for j, c := range rep.Dims[i] {
			(*dst)[j] = countJSON{Value: c.Value, Clicks: c.Clicks}
		}
	}
	if format != "csv" {
		writeJSON(w, http.StatusOK, out)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/csv; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	name := "stats"
	if id != "" {
		name += "-" + id
	}
	h.Set("Content-Disposition", `attachment; filename="`+name+"-"+out.From+"-"+out.To+`.csv"`)
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"dimension", "value", "clicks"})
	for _, t := range []struct {
		name string
		n    int64
	}{{"clicks", rep.Clicks}, {"scans", rep.Scans}, {"visitors", rep.Visitors}} {
		_ = cw.Write([]string{"total", t.name, strconv.FormatInt(t.n, 10)})
	}
	for i, counts := range rep.Dims {
		for _, c := range counts {
			_ = cw.Write([]string{stats.Dimensions[i], csvSafe(c.Value), strconv.FormatInt(c.Clicks, 10)})
		}
	}
	cw.Flush()
}

// statsSpan reads the from and to of a stats request, UTC dates "2006-01-02", both included: to
// defaults to today, from to 29 days before to. Its errors are link.ErrInvalid, saying why.
func statsSpan(fromS, toS string, now time.Time) (from, to time.Time, err error) {
	now = now.UTC()
	to = time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	if toS != "" {
		if to, err = time.Parse(time.DateOnly, toS); err != nil {
			return from, to, link.Invalid("to must be a date such as 2026-01-31")
		}
	}
	from = to.AddDate(0, 0, -(defaultStatsDays - 1))
	if fromS != "" {
		if from, err = time.Parse(time.DateOnly, fromS); err != nil {
			return from, to, link.Invalid("from must be a date such as 2026-01-01")
		}
	}
	switch days := int(to.Sub(from).Hours()/24) + 1; {
	case days < 1:
		return from, to, link.Invalid("from must not be after to")
	case days > store.MaxReportDays:
		return from, to, link.Invalid("from and to must be at most " + strconv.Itoa(store.MaxReportDays) + " days apart")
	}
	return from, to, nil
}
