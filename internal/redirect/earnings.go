package redirect

import (
	"context"
	"encoding/csv"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/redirector/redirector/internal/aliurl"
	"github.com/redirector/redirector/internal/earnings"
	"github.com/redirector/redirector/internal/link"
)

// Earnings reads the synced orders; *earnings.Store is one.
type Earnings interface {
	OfLink(ctx context.Context, id string) ([]earnings.Order, error)
	Range(ctx context.Context, from, to time.Time) ([]earnings.Order, error)
}

// ChannelCreator makes a short link on a channel; *shortlink.Service is one.
type ChannelCreator interface {
	CreateOn(ctx context.Context, page aliurl.Page, slug, channel string, now time.Time) (link.Record, bool, error)
}

// earningsJSON is a link's "earnings": its orders' totals, and what a click earned.
type earningsJSON struct {
	earnings.Totals
	Conversion       float64 `json:"conversion"`           // orders ÷ clicks
	CommissionPerClk float64 `json:"commission_per_click"` // estimated commission (cents) ÷ clicks
}

func linkEarnings(ctx context.Context, d Deps, l *linkJSON) error {
	if d.Earnings == nil {
		return nil
	}
	orders, err := d.Earnings.OfLink(ctx, l.ID)
	if err != nil {
		return err
	}
	e := earningsJSON{Totals: earnings.Sum(orders)}
	if l.Clicks != nil && *l.Clicks > 0 {
		e.Conversion = float64(e.Orders) / float64(*l.Clicks)
		e.CommissionPerClk = float64(e.Estimated) / float64(*l.Clicks)
	}
	l.Earnings = &e
	return nil
}

// handleEarningsReport serves GET /api/reports/earnings?from=&to=&by=link|channel|product|day (days in
// ORDER_TIME_ZONE, inclusive; default the last 30 days), as JSON or, for Accept: text/csv or
// format=csv, as CSV.
func handleEarningsReport(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if d.Earnings == nil {
			writeError(w, http.StatusNotFound, "earnings are not synced: configure the platform's app key")
			return
		}
		q := r.URL.Query()
		zone := d.OrderZone
		if zone == nil {
			zone = earnings.DefaultZone()
		}
		today := d.Now().In(zone)
		from := cmpStr(q.Get("from"), today.AddDate(0, 0, -29).Format("2006-01-02"))
		to := cmpStr(q.Get("to"), today.Format("2006-01-02"))
		by := cmpStr(q.Get("by"), earnings.ByDay)
		start, end, err := earnings.DayRange(from, to, zone)
		if err != nil {
			fail(w, d, link.Invalid(err.Error()), "")
			return
		}
		if end.Sub(start) > 400*24*time.Hour {
			fail(w, d, link.Invalid("from and to are more than 400 days apart"), "")
			return
		}
		orders, err := d.Earnings.Range(r.Context(), start, end)
		if err != nil {
			fail(w, d, err, "")
			return
		}
		rows, ok := earnings.Group(orders, by)
		if !ok {
			fail(w, d, link.Invalid("by must be link, channel, product or day"), "")
			return
		}
		if q.Get("format") == "csv" || strings.Contains(r.Header.Get("Accept"), "text/csv") {
			w.Header().Set("Content-Type", "text/csv; charset=utf-8")
			w.Header().Set("Cache-Control", "private, no-store")
			cw := csv.NewWriter(w)
			_ = cw.Write([]string{by, "bucket", "orders", "items", "sales", "estimated_commission", "settled_commission", "currency"})
			for _, r := range rows {
				_ = cw.Write([]string{csvSafe(r.Key), r.Bucket, i64(r.Orders), i64(r.Items), i64(r.Sales), i64(r.Estimated), i64(r.Settled), csvSafe(r.Currency)})
			}
			cw.Flush()
			return
		}
		writeJSON(w, http.StatusOK, struct {
			From  string          `json:"from"`
			To    string          `json:"to"`
			By    string          `json:"by"`
			Zone  string          `json:"time_zone"`
			Rows  []earnings.Row  `json:"rows"`
			Total earnings.Totals `json:"total"`
		}{from, to, by, zone.String(), rows, earnings.Sum(orders)})
	})
}

func cmpStr(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

func i64(n int64) string { return strconv.FormatInt(n, 10) }

// csvSafe keeps a spreadsheet from reading a value as a formula.
func csvSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
