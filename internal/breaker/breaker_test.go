package breaker_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redirector/redirector/internal/affiliate"
	"github.com/redirector/redirector/internal/affiliate/affiliatetest"
	"github.com/redirector/redirector/internal/breaker"
	"github.com/redirector/redirector/internal/clocktest"
)

// newClient returns a real client for the strict platform fake.
func newClient(t *testing.T) (*affiliate.Client, *affiliatetest.Platform) {
	t.Helper()
	fake, srv := affiliatetest.NewServer(affiliatetest.PlatformConfig{})
	t.Cleanup(srv.Close)
	cfg := fake.Config()
	c, err := affiliate.New(affiliate.Config{
		AppKey: cfg.AppKey, AppSecret: cfg.Secret, TrackingID: cfg.TrackingID, APIURL: srv.URL + "/sync",
		RatePerSecond: 1000, BatchWindow: time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c, fake
}

func product(n int) string {
	return fmt.Sprintf("https://www.aliexpress.com/item/%d.html", 1005000000000000+n)
}

func TestBreakerOpensAfterFailuresAndRecovers(t *testing.T) {
	client, fake := newClient(t)
	g := breaker.New(client, breaker.Options{
		Failures: 3, OpenFor: 300 * time.Millisecond,
		IsSuccess: func(err error) bool { return errors.Is(err, affiliate.ErrNotPromotable) },
	})
	ctx := context.Background()
	fake.FailAlways(affiliatetest.Fail5xx)
	for i := range 3 {
		if _, err := g.Generate(ctx, product(i)); err == nil || errors.Is(err, breaker.ErrOpen) {
			t.Fatalf("call %d with the platform failing: err = %v, want a platform error", i, err)
		}
	}
	if g.State() != "open" {
		t.Fatalf("State() after 3 failures = %q, want open", g.State())
	}
	calls := fake.Calls()
	if _, err := g.Generate(ctx, product(10)); !errors.Is(err, breaker.ErrOpen) {
		t.Errorf("Generate while open: err = %v, want ErrOpen", err)
	}
	if got := fake.Calls(); got != calls {
		t.Errorf("platform calls while open = %d, want %d (none)", got, calls)
	}

	fake.FailAlways(affiliatetest.FailNone)
	// Past OpenFor the next call is a half-open probe. The breaker (gobreaker) reads the wall clock
	// and takes no other, so real time passing is what is tested here: wait for the state it brings.
	clocktest.WaitFor(t, "the breaker to turn half-open after OpenFor", func() bool { return g.State() == "half-open" })
	link, err := g.Generate(ctx, product(11))
	if err != nil || link != affiliatetest.Link(product(11)) {
		t.Fatalf("probe after recovery = %q, %v; want %q", link, err, affiliatetest.Link(product(11)))
	}
	if g.State() != "closed" {
		t.Errorf("State() after a good probe = %q, want closed", g.State())
	}
}

func TestBreakerNotPromotableIsNotAFailure(t *testing.T) {
	client, fake := newClient(t)
	g := breaker.New(client, breaker.Options{
		Failures:  2,
		IsSuccess: func(err error) bool { return errors.Is(err, affiliate.ErrNotPromotable) },
	})
	for i := range 5 {
		fake.SetNotPromotable(product(i))
		if _, err := g.Generate(context.Background(), product(i)); !errors.Is(err, affiliate.ErrNotPromotable) {
			t.Fatalf("Generate(%s) err = %v, want ErrNotPromotable", product(i), err)
		}
	}
	if g.State() != "closed" {
		t.Errorf("State() after not-promotable answers = %q, want closed", g.State())
	}
}

// slowGen blocks until released, counting calls.
type slowGen struct {
	release chan struct{}
	calls   atomic.Int64
}

func (s *slowGen) Generate(ctx context.Context, source string) (string, error) {
	s.calls.Add(1)
	<-s.release
	return "https://s.click.aliexpress.com/e/_x", nil
}

func TestBreakerCapsCallsInFlight(t *testing.T) {
	gen := &slowGen{release: make(chan struct{})}
	g := breaker.New(gen, breaker.Options{MaxInFlight: 4})
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() { _, _ = g.Generate(context.Background(), product(i)) })
	}
	clocktest.WaitFor(t, "4 calls in flight", func() bool { return g.InFlight() == 4 })
	if _, err := g.Generate(context.Background(), product(99)); !errors.Is(err, breaker.ErrBusy) {
		t.Errorf("Generate past the cap: err = %v, want ErrBusy", err)
	}
	close(gen.release)
	wg.Wait()
	if got := gen.calls.Load(); got != 4 {
		t.Errorf("calls reaching the platform = %d, want 4", got)
	}
	if got := g.Rejected(); got != 1 {
		t.Errorf("Rejected() = %d, want 1", got)
	}
}

// A platform that hangs opens the breaker as soon as Failures calls have outlived SlowAfter, while
// they still hang, not when they finally time out.
func TestBreakerOpensOnCallsThatHang(t *testing.T) {
	client, fake := newClient(t)
	fake.FailAlways(affiliatetest.FailHang)
	g := breaker.New(client, breaker.Options{
		Failures: 3, OpenFor: time.Minute, SlowAfter: 20 * time.Millisecond,
		IsSuccess: func(err error) bool { return errors.Is(err, affiliate.ErrNotPromotable) },
	})
	// The hung calls are released when the test ends.
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	for i := range 3 {
		wg.Go(func() { _, _ = g.Generate(ctx, product(i)) })
	}
	clocktest.WaitFor(t, "the breaker to open with 3 calls hanging past SlowAfter", func() bool { return g.State() == "open" })
	if n := g.InFlight(); n != 3 {
		t.Errorf("InFlight() when the breaker opened = %d, want 3: it must open while the calls hang", n)
	}
	if n := g.Slow(); n != 3 {
		t.Errorf("Slow() = %d, want 3", n)
	}
	calls := fake.Calls()
	if _, err := g.Generate(ctx, product(10)); !errors.Is(err, breaker.ErrOpen) {
		t.Errorf("Generate while open: err = %v, want ErrOpen", err)
	}
	if got := fake.Calls(); got != calls {
		t.Errorf("platform calls while open = %d, want %d (none)", got, calls)
	}
}

// Product details take the same slots and breaker as link generation.
func TestBreakerGuardsProductDetails(t *testing.T) {
	client, fake := newClient(t)
	g := breaker.New(client, breaker.Options{
		Failures: 2, OpenFor: time.Minute,
		IsSuccess: func(err error) bool { return errors.Is(err, affiliate.ErrNotPromotable) },
	})
	details := g.Details(client)
	ctx := context.Background()
	if _, err := details.ProductDetail(ctx, "1005000000000001", "", ""); !errors.Is(err, affiliate.ErrNotPromotable) {
		t.Fatalf("ProductDetail of an unknown product: err = %v, want ErrNotPromotable", err)
	}
	fake.FailAlways(affiliatetest.Fail5xx)
	for i := range 2 {
		if _, err := details.ProductDetail(ctx, "1005000000000002", "", ""); err == nil || errors.Is(err, breaker.ErrOpen) {
			t.Fatalf("ProductDetail #%d with the platform failing: err = %v, want a platform error", i, err)
		}
	}
	if g.State() != "open" {
		t.Fatalf("State() after 2 failed product details = %q, want open", g.State())
	}
	calls := fake.Calls()
	if _, err := g.Generate(ctx, product(1)); !errors.Is(err, breaker.ErrOpen) {
		t.Errorf("Generate after failed product details: err = %v, want ErrOpen", err)
	}
	if _, err := details.ProductDetail(ctx, "1005000000000003", "", ""); !errors.Is(err, breaker.ErrOpen) {
		t.Errorf("ProductDetail while open: err = %v, want ErrOpen", err)
	}
	if got := fake.Calls(); got != calls {
		t.Errorf("platform calls while open = %d, want %d (none)", got, calls)
	}
}

// TestBreakerGuardsTheCatalog: the health check's batched product details and product search do not
// reach a platform the breaker has found failing (the chaos suite saw them do so), and their failures
// open it as a click's do.
func TestBreakerGuardsTheCatalog(t *testing.T) {
	client, fake := newClient(t)
	g := breaker.New(client, breaker.Options{
		Failures: 2, OpenFor: time.Minute,
		IsSuccess: func(err error) bool { return errors.Is(err, affiliate.ErrNotPromotable) },
	})
	catalog := g.Catalog(client)
	ctx := context.Background()
	if _, err := catalog.ProductDetails(ctx, []string{"1005000000000001"}, "", ""); err != nil {
		t.Fatalf("ProductDetails with the platform up: %v", err)
	}
	fake.FailAlways(affiliatetest.Fail5xx)
	for i := range 2 {
		if _, err := catalog.ProductDetails(ctx, []string{"1005000000000002"}, "", ""); err == nil || errors.Is(err, breaker.ErrOpen) {
			t.Fatalf("ProductDetails #%d with the platform failing: err = %v, want a platform error", i, err)
		}
	}
	if g.State() != "open" {
		t.Fatalf("State() after 2 failed product details batches = %q, want open", g.State())
	}
	calls := fake.Calls()
	if _, err := catalog.ProductDetails(ctx, []string{"1005000000000003"}, "", ""); !errors.Is(err, breaker.ErrOpen) {
		t.Errorf("ProductDetails while open: err = %v, want ErrOpen", err)
	}
	if _, err := catalog.ProductQuery(ctx, "desk lamp", 5, "", ""); !errors.Is(err, breaker.ErrOpen) {
		t.Errorf("ProductQuery while open: err = %v, want ErrOpen", err)
	}
	if got := fake.Calls(); got != calls {
		t.Errorf("platform calls while open = %d, want %d (none)", got, calls)
	}
}

// errNotSent stands for a call refused before it reached the platform.
var errNotSent = errors.New("not sent")

type failingGen struct{ err error }

func (f failingGen) Generate(context.Context, string) (string, error) { return "", f.err }

func TestBreakerExcludedErrorsAreNotFailures(t *testing.T) {
	g := breaker.New(failingGen{err: errNotSent}, breaker.Options{
		Failures: 2, IsExcluded: func(err error) bool { return errors.Is(err, errNotSent) },
	})
	for i := range 5 {
		if _, err := g.Generate(context.Background(), product(i)); !errors.Is(err, errNotSent) {
			t.Fatalf("Generate #%d: err = %v, want errNotSent", i, err)
		}
	}
	if g.State() != "closed" {
		t.Errorf("State() after 5 excluded errors = %q, want closed", g.State())
	}
}
