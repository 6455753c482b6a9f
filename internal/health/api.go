package health

import (
	"context"
	"errors"
	"time"

	"github.com/redirector/redirector/internal/affiliate"
	"github.com/redirector/redirector/internal/aliurl"
	"github.com/redirector/redirector/internal/link"
	"github.com/redirector/redirector/internal/store"
)

// Warnings POST /api/links answers when the page will not earn.
const (
	WarnNotPromotable = "not promotable: the platform pays no commission for this product"
	WarnGone          = "product gone: the platform has no details for it any more"
	WarnNoDetails     = "not promotable: the platform has no affiliate details for this product"
	WarnNotProduct    = "not a product page: only its tagging is checked"
)

// inspectTimeout bounds the platform call that a new link's health costs its creator.
const inspectTimeout = 1500 * time.Millisecond

// Inspect finds a new link's health at once, with one productdetail.get call for a product page (none
// when the platform has no token to spare or does not answer in time: the link stays unknown until
// the check), writes it, and returns the warnings to show its creator.
func (m *Monitor) Inspect(ctx context.Context, rec link.Record) []string {
	page, err := aliurl.Parse(rec.Target)
	if err != nil || page.Kind != aliurl.Product {
		m.write(ctx, rec, link.Health{State: link.HealthPage, Seen: m.opts.Now()}, link.Product{})
		return []string{WarnNotProduct}
	}
	prev, err := m.store.Health(ctx, []string{rec.ID})
	if err != nil {
		return nil
	}
	cctx, cancel := context.WithTimeout(ctx, inspectTimeout)
	defer cancel()
	found, err := m.platform.ProductDetails(cctx, []string{page.ID}, m.opts.Currency, m.opts.Language)
	if err != nil {
		if !errors.Is(err, affiliate.ErrWouldWait) {
			m.opts.Logger.Debug("inspect new link", "id", rec.ID, "err", err)
		}
		return nil
	}
	if m.opts.Products != nil && len(found) > 0 {
		m.opts.Products(found)
	}
	h := judge(found, page.ID, prev[0].Product, m.opts.Now())
	m.write(ctx, rec, h, prev[0].Product)
	switch {
	case h.State == link.HealthGone:
		return []string{WarnGone}
	case h.State == link.HealthUntagged && found[page.ID].ID == "":
		return []string{WarnNoDetails}
	case h.State == link.HealthUntagged:
		return []string{WarnNotPromotable}
	}
	return nil
}

// Health returns the health of each link id, in order (see store.Records.Health).
func (m *Monitor) Health(ctx context.Context, ids []string) ([]link.Health, error) {
	return m.store.Health(ctx, ids)
}

// Report is what GET /api/health shows: links per state at the last check, and when it ran.
type Report struct {
	Checked bool // false: no check has run yet (Counts empty)
	At      time.Time
	Counts  map[link.HealthState]int
}

// Report returns the last check's report.
func (m *Monitor) Report(ctx context.Context) (Report, error) {
	c, ok, err := m.store.LastHealthCheck(ctx)
	if err != nil || !ok {
		return Report{Counts: map[link.HealthState]int{}}, err
	}
	return Report{Checked: true, At: c.At, Counts: c.Counts}, nil
}

// suggestTimeout bounds the wait for a spare platform token and the product.query call.
const suggestTimeout = 3 * time.Second

// MaxSuggestions is the most replacements Suggest returns.
const MaxSuggestions = 5

// ErrNoTitle is Suggest's answer for a link whose product's title was never learnt (not a product
// link, or never checked): there is nothing to search with.
var ErrNoTitle = errors.New("no product title is known for this link yet")

// Suggest returns up to MaxSuggestions promotable products like the live link id's last known product
// (product.query with keywords from its title), its own product left out: replacements a creator can
// retarget to. link.ErrNotFound when no live link has the id; ErrNoTitle when no title is known; the
// platform's errors (affiliate.ErrWouldWait when it has no token to spare) otherwise.
func (m *Monitor) Suggest(ctx context.Context, id string) ([]link.Product, error) {
	rec, ok, err := m.store.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if !ok || rec.Deleted {
		return nil, link.ErrNotFound
	}
	hs, err := m.store.Health(ctx, []string{id})
	if err != nil {
		return nil, err
	}
	kw := Keywords(hs[0].Product.Title)
	if kw == "" {
		return nil, ErrNoTitle
	}
	own := ""
	if p, err := aliurl.Parse(rec.Target); err == nil && p.Kind == aliurl.Product {
		own = p.ID
	}
	cctx, cancel := context.WithTimeout(ctx, suggestTimeout)
	defer cancel()
	var found []affiliate.Product
	err = whenSpare(cctx, func() (err error) {
		found, err = m.platform.ProductQuery(cctx, kw, MaxSuggestions+1, m.opts.Currency, m.opts.Language)
		return err
	})
	if err != nil {
		if cctx.Err() != nil && ctx.Err() == nil {
			return nil, affiliate.ErrWouldWait // no token to spare within CallTimeout
		}
		return nil, err
	}
	out := make([]link.Product, 0, MaxSuggestions)
	for _, p := range found {
		if p.ID == own || !Earns(p.CommissionRate) || p.Title == "" {
			continue
		}
		if _, err := aliurl.Parse("https://www.aliexpress.com/item/" + p.ID + ".html"); err != nil {
			continue
		}
		out = append(out, product(p))
		if len(out) == MaxSuggestions {
			break
		}
	}
	return out, nil
}

// History returns the last changes of the link id's health state, newest first (store.HealthHistoryLen
// at most; none once it is deleted or retargeted).
func (m *Monitor) History(ctx context.Context, id string) ([]store.HealthChange, error) {
	return m.store.HealthHistory(ctx, id)
}
