package redirect

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redirector/redirector/internal/affiliate"
	"github.com/redirector/redirector/internal/affiliate/affiliatetest"
	"github.com/redirector/redirector/internal/aliurl"
	"github.com/redirector/redirector/internal/health"
	"github.com/redirector/redirector/internal/link"
)

// healthLink is a link as the admin API answers it with health known.
type healthLink struct {
	linkReply
	FallbackURL  string `json:"fallback_url"`
	FallbackWhen string `json:"fallback_when"`
	Health       *struct {
		State  string     `json:"state"`
		SeenAt *time.Time `json:"seen_at"`
	} `json:"health"`
	Product *struct {
		Title          string `json:"title"`
		Image          string `json:"image"`
		Price          string `json:"price"`
		Currency       string `json:"currency"`
		CommissionRate string `json:"commission_rate"`
	} `json:"product"`
	HealthHistory []struct {
		At   time.Time `json:"at"`
		From string    `json:"from"`
		To   string    `json:"to"`
	} `json:"health_history"` // GET /api/links/{id} alone
}

// createH is env.create for a service with health: the answer carries the health fields too.
func (e *env) createH(body string, want int) healthLink {
	e.t.Helper()
	r := e.api(http.MethodPost, "/api/links", body)
	if r.status != want {
		e.t.Fatalf("POST /api/links %s = %s, want %d", body, r, want)
	}
	var l healthLink
	decode(e.t, r, &l)
	return l
}

func canonical(t testing.TB, raw string) string {
	t.Helper()
	p, err := aliurl.Parse(raw)
	if err != nil {
		t.Fatalf("aliurl.Parse(%q): %v", raw, err)
	}
	return p.URL
}

// TestHealthCheck300 is issue 16's acceptance: of 300 product links, the 20 whose products the platform
// removes later are gone after one check and their clicks land on their plan B (or the store or search page,
// tagged); the 15 made not promotable are untagged; the check costs at most ceil(300/batch) calls; and
// clicks made during the check are still tagged within UPSTREAM_TIMEOUT.
func TestHealthCheck300(t *testing.T) {
	const n, removed, unpromotable = 300, 20, 15
	// The replica that runs the measured check has a platform rate of 1 a second and a burst of 2: a
	// token takes as long to come as UPSTREAM_TIMEOUT (1 s), so a click that had to queue behind a call
	// of the check would go out untagged. A second replica over the same Redis and platform, with
	// a rate it cannot exhaust, makes the links, learns their products first, and checks where clicks
	// go afterwards: what a click gets there, not how fast, is in question.
	e := newEnv(t, envOptions{Health: true, PlatformRate: 1, PlatformBurst: 2, UpstreamTimeout: time.Second})
	opts := e.opts
	opts.PlatformRate, opts.PlatformBurst, opts.UpstreamTimeout = 1000, 0, 0
	e2 := newEnv(t, opts)
	p := e.platform
	title := func(i int) string { return fmt.Sprintf("Garden lamp solar model %d", i) }
	storeOf := func(i int) string { return fmt.Sprintf("https://www.aliexpress.com/store/%d", 900000+i) }
	for i := range n + 50 { // 50 more: the fallbacks and the pages clicked during the check
		prod := affiliatetest.Product{Title: title(i), ImageURL: fmt.Sprintf("https://ae01.alicdn.com/kf/%d.jpg", i), Price: "9.99", Currency: "USD"}
		if i%20 >= 15 { // some products name their store
			prod.ShopURL = storeOf(i)
		}
		p.SetProduct(strconv.FormatInt(productID(i), 10), prod)
	}
	ids := make([]string, n)
	for i := range n {
		body := fmt.Sprintf(`{"url": %q}`, product(i))
		switch {
		case i < 10: // gone, with a plan B
			body = fmt.Sprintf(`{"url": %q, "fallback_url": %q}`, product(i), product(n+i))
		case i >= 20 && i < 25: // untagged, plan B also then
			body = fmt.Sprintf(`{"url": %q, "fallback_url": %q, "fallback_when": "untagged"}`, product(i), product(n+i))
		}
		l := e2.createH(body, http.StatusCreated)
		ids[i] = l.ID
		if len(l.Warnings) != 0 {
			t.Fatalf("POST %s warnings = %q, want none (a promotable product)", body, l.Warnings)
		}
	}
	// A first check learns every product (as creation did).
	if _, err := e2.monitor.CheckAll(t.Context()); err != nil {
		t.Fatalf("first CheckAll: %v", err)
	}
	var goneIDs, untaggedIDs []string
	for i := range removed { // products 0..19 disappear
		p.RemoveProduct(strconv.FormatInt(productID(i), 10))
		goneIDs = append(goneIDs, ids[i])
	}
	for i := removed; i < removed+unpromotable; i++ { // products 20..34 stop earning
		p.SetProductNotPromotable(strconv.FormatInt(productID(i), 10))
		untaggedIDs = append(untaggedIDs, ids[i])
	}
	p.Reset()

	// Clicks during the check, on pages never clicked (each a platform call), one every 2.5 s: well
	// under the rate of 1 a second, so only the check could make them wait.
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	var mu sync.Mutex
	var late []string
	clicked := 0
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := n + 20; i < n+50 && ctx.Err() == nil; i++ {
			r := e.get(goPath(product(i)))
			clicked++
			if want := p.Link(product(i)); r.header.Get("Location") != want {
				mu.Lock()
				late = append(late, fmt.Sprintf("%s: %s, want %s", product(i), r, want))
				mu.Unlock()
			}
			time.Sleep(2500 * time.Millisecond) // paces the clicks; guards nothing
		}
	}()
	began := time.Now()
	rep, err := e.monitor.CheckAll(t.Context())
	took := time.Since(began)
	cancel()
	wg.Wait()
	t.Logf("the check took %v; %d clicks meanwhile", took.Round(time.Millisecond), clicked)
	if err != nil {
		t.Fatalf("CheckAll: %v", err)
	}
	if len(late) > 0 {
		t.Errorf("clicks during the check not tagged in time (UPSTREAM_TIMEOUT %v):\n%s", e.opts.UpstreamTimeout, strings.Join(late, "\n"))
	}
	maxCalls := (n + affiliate.MaxDetailIDs - 1) / affiliate.MaxDetailIDs
	if got := p.CallsOf(affiliatetest.MethodProductDetail); got > maxCalls || got == 0 {
		t.Errorf("productdetail.get calls of the check = %d, want 1 to %d (ceil(%d/%d), no failures to retry)", got, maxCalls, n, affiliate.MaxDetailIDs)
	}
	want := map[link.HealthState]int{link.HealthOK: n - removed - unpromotable, link.HealthGone: removed, link.HealthUntagged: unpromotable}
	for _, st := range link.HealthStates {
		if rep.Counts[st] != want[st] {
			t.Errorf("check counts[%s] = %d, want %d", st, rep.Counts[st], want[st])
		}
	}

	// The states, through the API's filter.
	for st, wantIDs := range map[string][]string{"gone": goneIDs, "untagged": untaggedIDs} {
		var got []string
		cursor := ""
		for {
			r := e.api(http.MethodGet, "/api/links?limit=7&health="+st+"&cursor="+cursor, "")
			var page struct {
				Links      []healthLink `json:"links"`
				Total      int          `json:"total"`
				NextCursor string       `json:"next_cursor"`
			}
			decode(t, r, &page)
			for _, l := range page.Links {
				if l.Health == nil || l.Health.State != st || l.Health.SeenAt == nil {
					t.Errorf("GET /api/links?health=%s: %s has health %+v", st, l.ID, l.Health)
				}
				got = append(got, l.ID)
			}
			if page.NextCursor == "" {
				break
			}
			cursor = page.NextCursor
		}
		slices.Sort(got)
		wantSorted := slices.Sorted(slices.Values(wantIDs))
		if !slices.Equal(got, wantSorted) {
			t.Errorf("GET /api/links?health=%s = %d links %v, want %d %v", st, len(got), got, len(wantSorted), wantSorted)
		}
	}

	// Where clicks go now. Gone: the plan B, else the store page, else the search for the title; all tagged.
	for i := range removed {
		var dest string
		switch {
		case i < 10:
			dest = product(n + i)
		case i%20 >= 15:
			dest = canonical(t, storeOf(i))
		default:
			dest = health.SearchURL(title(i))
		}
		r := e2.get("/" + ids[i])
		if want := p.Link(dest); r.status != http.StatusFound || r.header.Get("Location") != want {
			t.Errorf("click on gone link %s (product %d) = %s, want 302 to %s (the tagged %s)", ids[i], i, r, want, dest)
		}
	}
	// Untagged: the plan B when asked for then, else the product itself, untagged.
	for i := removed; i < removed+unpromotable; i++ {
		r := e2.get("/" + ids[i])
		want := product(i)
		if i < 25 {
			want = p.Link(product(n + i))
		}
		if r.header.Get("Location") != want {
			t.Errorf("click on untagged link %s (product %d) = %s, want Location %s", ids[i], i, r, want)
		}
	}
	// A healthy link is untouched.
	if r := e2.get("/" + ids[n-1]); r.header.Get("Location") != p.Link(product(n-1)) {
		t.Errorf("click on ok link %s = %s, want %s", ids[n-1], r, p.Link(product(n-1)))
	}

	// The link shows its state and its product.
	var one healthLink
	decode(t, e.api(http.MethodGet, "/api/links/"+ids[n-1], ""), &one)
	if one.Health == nil || one.Health.State != "ok" || one.Product == nil || one.Product.Title != title(n-1) ||
		one.Product.CommissionRate != "7.0%" || one.Product.Price != "9.99" || one.Product.Image == "" {
		t.Errorf("GET /api/links/%s health %+v product %+v, want ok and %q at 9.99 USD, 7.0%%", ids[n-1], one.Health, one.Product, title(n-1))
	}

	// /api/health reports the check.
	var hr struct {
		Counts    map[string]int `json:"counts"`
		LastCheck *time.Time     `json:"last_check"`
	}
	decode(t, e.api(http.MethodGet, "/api/health", ""), &hr)
	if hr.LastCheck == nil || hr.Counts["gone"] != removed || hr.Counts["untagged"] != unpromotable || hr.Counts["ok"] != n-removed-unpromotable {
		t.Errorf("GET /api/health = %+v, want gone %d, untagged %d, ok %d and a last check", hr, removed, unpromotable, n-removed-unpromotable)
	}

	// Suggestions for a gone link: promotable products like it, never a removed or unpromotable one.
	r := e.api(http.MethodGet, "/api/links/"+ids[15]+"/suggestions", "")
	var sg struct {
		Suggestions []struct {
			ID             string `json:"id"`
			Title          string `json:"title"`
			Image          string `json:"image"`
			Price          string `json:"price"`
			Currency       string `json:"currency"`
			CommissionRate string `json:"commission_rate"`
			URL            string `json:"url"`
		} `json:"suggestions"`
	}
	if r.status != http.StatusOK {
		t.Fatalf("GET suggestions = %s, want 200", r)
	}
	decode(t, r, &sg)
	if len(sg.Suggestions) == 0 || len(sg.Suggestions) > 5 {
		t.Fatalf("suggestions = %d, want 1 to 5: %s", len(sg.Suggestions), r)
	}
	for _, s := range sg.Suggestions {
		id, _ := strconv.ParseInt(s.ID, 10, 64)
		if i := int(id - productID(0)); i < removed+unpromotable {
			t.Errorf("suggestion %s is product %d, removed or not promotable", s.ID, i)
		}
		if s.Title == "" || s.Image == "" || s.Price == "" || s.CommissionRate == "" || s.URL != canonical(t, s.URL) {
			t.Errorf("suggestion %+v lacks a field", s)
		}
	}
}

// TestFallbackRefused: a plan B is accepted like any target, so one off AliExpress is refused with 400
// and nothing is written; a share link as plan B, or fallback_when without a plan B, too.
func TestFallbackRefused(t *testing.T) {
	e := newEnv(t, envOptions{Health: true})
	for _, tc := range []struct{ name, body, reason string }{
		{"off aliexpress", `{"url": %q, "fallback_url": "https://evil.example.com/item/1.html"}`, "fallback_url"},
		{"javascript", `{"url": %q, "fallback_url": "javascript:alert(1)"}`, "fallback_url"},
		{"when without fallback", `{"url": %q, "fallback_when": "untagged"}`, "fallback_url"},
		{"unknown when", `{"url": %q, "fallback_url": "https://www.aliexpress.com/item/1005001000000999.html", "fallback_when": "always"}`, "fallback_when"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.api(http.MethodPost, "/api/links", fmt.Sprintf(tc.body, product(1)))
			if msg := apiError(t, "POST with "+tc.name, r, http.StatusBadRequest); !strings.Contains(msg, tc.reason) {
				t.Errorf("error %q does not name %s", msg, tc.reason)
			}
		})
	}
	if r := e.get("/" + mustProductCode(t, productID(1))); r.status != http.StatusFound {
		t.Fatalf("click on the product code = %s", r)
	}
	if _, ok, _ := e.records.Get(t.Context(), mustProductCode(t, productID(1))); ok {
		t.Errorf("a refused create left a record")
	}
}

// TestCreateWarnsWhenNotEarning: POST answers "warnings" when the page will not earn.
func TestCreateWarnsWhenNotEarning(t *testing.T) {
	e := newEnv(t, envOptions{Health: true})
	p := e.platform
	for i := 1; i <= 2; i++ {
		p.SetProduct(strconv.FormatInt(productID(i), 10), affiliatetest.Product{Title: "Desk lamp", ImageURL: "https://ae01.alicdn.com/kf/x.jpg"})
	}
	p.SetProductNotPromotable(strconv.FormatInt(productID(2), 10))
	for _, tc := range []struct {
		name, url, warning string
	}{
		{"promotable", product(1), ""},
		{"not promotable", product(2), health.WarnNotPromotable},
		{"product the platform does not describe", product(3), health.WarnNoDetails},
		{"store page", "https://www.aliexpress.com/store/1234", health.WarnNotProduct},
	} {
		l := e.createH(fmt.Sprintf(`{"url": %q}`, tc.url), http.StatusCreated)
		if got := strings.Join(l.Warnings, "; "); got != tc.warning {
			t.Errorf("%s: POST %s warnings = %q, want %q", tc.name, tc.url, got, tc.warning)
		}
		// None of them is diverted (a product never described is not taken for a gone one): each click
		// goes to its own page, tagged unless the platform refuses.
		want := p.Link(canonical(t, tc.url))
		if tc.warning == health.WarnNotPromotable {
			want = canonical(t, tc.url)
		}
		if r := e.get("/" + l.ID); r.header.Get("Location") != want {
			t.Errorf("%s: click = %s, want %s", tc.name, r, want)
		}
	}
}

// TestClickMarksUntagged: a click the platform answers "not promotable" marks its link untagged.
func TestClickMarksUntagged(t *testing.T) {
	e := newEnv(t, envOptions{Health: true})
	p := e.platform
	p.SetProduct(strconv.FormatInt(productID(7), 10), affiliatetest.Product{Title: "Desk lamp", ImageURL: "https://ae01.alicdn.com/kf/x.jpg"})
	l := e.createH(fmt.Sprintf(`{"url": %q}`, product(7)), http.StatusCreated)
	p.SetNotPromotable(product(7)) // link.generate only: productdetail.get still has it
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	// No check is due (one just ran), so Run only writes the clicks' marks.
	if _, err := e.monitor.CheckAll(t.Context()); err != nil {
		t.Fatalf("CheckAll: %v", err)
	}
	done := make(chan struct{})
	go func() { defer close(done); e.monitor.Run(ctx) }()
	defer func() { cancel(); <-done }()
	if r := e.get("/" + l.ID); r.header.Get("Location") != product(7) {
		t.Fatalf("click = %s, want the page untagged", r)
	}
	waitFor(t, "the link marked untagged", func() bool {
		hs, err := e.records.Health(t.Context(), []string{l.ID})
		return err == nil && hs[0].State == link.HealthUntagged
	})
}

// TestHealthLease: one replica checks at a time.
func TestHealthLease(t *testing.T) {
	e := newEnv(t, envOptions{Health: true})
	if ok, err := e.records.HealthLease(t.Context(), "someone-else", time.Minute); !ok || err != nil {
		t.Fatalf("HealthLease = %v, %v", ok, err)
	}
	if _, err := e.monitor.CheckAll(t.Context()); err != health.ErrBusy {
		t.Errorf("CheckAll while another holds the lease = %v, want ErrBusy", err)
	}
	if err := e.records.ReleaseHealthLease(t.Context(), "someone-else"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.monitor.CheckAll(t.Context()); err != nil {
		t.Errorf("CheckAll once the lease is free = %v", err)
	}
	ttl, err := e.redis.Do("PTTL", "rd:v1:health:last")
	if err != nil || ttl == "-1" || ttl == "-2" {
		t.Errorf("PTTL rd:v1:health:last = %q, %v; want an expiry", ttl, err)
	}
}
