package redirect

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/redirector/redirector/internal/affiliate"
	"github.com/redirector/redirector/internal/health"
	"github.com/redirector/redirector/internal/link"
	"github.com/redirector/redirector/internal/store"
)

// Health knows which links still earn; *health.Monitor is one.
type Health interface {
	// Inspect finds a new link's health at once and returns the warnings for its creator.
	Inspect(ctx context.Context, rec link.Record) []string
	// Health returns each id's health, in order.
	Health(ctx context.Context, ids []string) ([]link.Health, error)
	// NotPromotable is told, without blocking, of a click the platform answered "not promotable".
	NotPromotable(id, target string)
	// Report is the last check's counts per state.
	Report(ctx context.Context) (health.Report, error)
	// Suggest lists promotable replacements: link.ErrNotFound, health.ErrNoTitle, or the platform's errors.
	Suggest(ctx context.Context, id string) ([]link.Product, error)
	// History is the link's last changes of health state, newest first.
	History(ctx context.Context, id string) ([]store.HealthChange, error)
}

type healthJSON struct {
	State  link.HealthState `json:"state"`
	SeenAt *time.Time       `json:"seen_at,omitempty"`
}

// healthChangeJSON is one entry of a link's health_history (GET /api/links/{id}).
type healthChangeJSON struct {
	At   time.Time        `json:"at"`
	From link.HealthState `json:"from"`
	To   link.HealthState `json:"to"`
}

// withHealthHistory adds the link's health history, newest first; a store error leaves it out (the
// rest of the answer stands).
func withHealthHistory(ctx context.Context, d Deps, l *linkJSON) {
	if d.Health == nil {
		return
	}
	hs, err := d.Health.History(ctx, l.ID)
	if err != nil {
		d.Logger.Warn("link health history", "id", l.ID, "err", err)
		return
	}
	l.HealthHistory = make([]healthChangeJSON, len(hs))
	for i, h := range hs {
		l.HealthHistory[i] = healthChangeJSON{At: h.At.UTC(), From: h.From, To: h.To}
	}
}

type productJSON struct {
	ID             string `json:"id,omitempty"`
	Title          string `json:"title"`
	Image          string `json:"image,omitempty"`
	Price          string `json:"price,omitempty"`
	Currency       string `json:"currency,omitempty"`
	CommissionRate string `json:"commission_rate,omitempty"`
	URL            string `json:"url,omitempty"`
}

// withHealth adds each link's health and product last known; a store error leaves them out (the
// rest of the answer stands).
func withHealth(ctx context.Context, d Deps, ls []*linkJSON) {
	if d.Health == nil || len(ls) == 0 {
		return
	}
	ids := make([]string, len(ls))
	for i, l := range ls {
		ids[i] = l.ID
	}
	hs, err := d.Health.Health(ctx, ids)
	if err != nil {
		d.Logger.Warn("link health", "err", err)
		return
	}
	for i, h := range hs {
		hj := &healthJSON{State: h.State}
		if !h.Seen.IsZero() {
			t := h.Seen.UTC()
			hj.SeenAt = &t
		}
		ls[i].Health = hj
		if h.Product.Title != "" {
			p := h.Product
			ls[i].Product = &productJSON{Title: p.Title, Image: p.Image, Price: p.Price, Currency: p.Currency, CommissionRate: p.CommissionRate}
		}
	}
}

// handleHealthReport serves GET /api/health: links per state at the last check, and when it ran.
func handleHealthReport(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if d.Health == nil {
			writeError(w, http.StatusNotFound, "link health is not checked by this service")
			return
		}
		rep, err := d.Health.Report(r.Context())
		if err != nil {
			fail(w, d, err, "")
			return
		}
		out := struct {
			Counts    map[link.HealthState]int `json:"counts"`
			LastCheck *time.Time               `json:"last_check"`
		}{Counts: make(map[link.HealthState]int, len(link.HealthStates))}
		for _, st := range link.HealthStates {
			out.Counts[st] = rep.Counts[st]
		}
		if rep.Checked {
			t := rep.At.UTC()
			out.LastCheck = &t
		}
		writeJSON(w, http.StatusOK, out)
	})
}

// handleSuggestions serves GET /api/links/{id}/suggestions: up to 5 promotable replacements.
func handleSuggestions(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, ok := linkID(w, r)
		if !ok {
			return
		}
		if d.Health == nil {
			writeError(w, http.StatusNotFound, "link health is not checked by this service")
			return
		}
		ps, err := d.Health.Suggest(r.Context(), id)
		switch {
		case errors.Is(err, health.ErrNoTitle):
			writeError(w, http.StatusConflict, err.Error()+": wait for its health check")
			return
		case errors.Is(err, affiliate.ErrRateLimited), errors.Is(err, affiliate.ErrTransport):
			writeError(w, http.StatusServiceUnavailable, "the platform is not answering: try again")
			return
		case err != nil:
			var pe *affiliate.PlatformError
			if errors.As(err, &pe) {
				writeError(w, http.StatusBadGateway, "the platform refused the search")
				return
			}
			fail(w, d, err, "")
			return
		}
		out := struct {
			Suggestions []productJSON `json:"suggestions"`
		}{Suggestions: make([]productJSON, 0, len(ps))}
		for _, p := range ps {
			out.Suggestions = append(out.Suggestions, productJSON{
				ID: p.ID, Title: p.Title, Image: p.Image, Price: p.Price, Currency: p.Currency,
				CommissionRate: p.CommissionRate, URL: "https://www.aliexpress.com/item/" + p.ID + ".html",
			})
		}
		writeJSON(w, http.StatusOK, out)
	})
}
