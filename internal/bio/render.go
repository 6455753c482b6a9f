package bio

import (
	"bytes"
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"fmt"
	"html/template"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redirector/redirector/internal/flight"
	"github.com/redirector/redirector/internal/preview"
	"github.com/redirector/redirector/internal/shortlink"
)

// Pages reads pages; *Store is one.
type Pages interface {
	// Get returns ok=false when no page has handle (in any case).
	Get(ctx context.Context, handle string) (Page, bool, error)
}

// Links answers where a short link points; *shortlink.Lookup is one.
type Links interface {
	// Link returns ok=false for an unknown or deleted link.
	Link(ctx context.Context, id string) (shortlink.Link, bool, error)
}

// Product is what a page shows of a product: all of it comes from the platform (sellers write
// titles), and is escaped when shown.
type Product struct {
	Title, Image, Price, Currency string
}

// Products gives the product details the service caches for a short link's target; an adapter of
// *preview.Previewer's Product is one. Richer product data (link health) can take its place.
type Products interface {
	// Product returns ok=false when target is not a product or its details cannot be had now.
	Product(ctx context.Context, target string, client netip.Addr) (Product, bool)
}

// ProductsFunc is a func that is Products.
type ProductsFunc func(ctx context.Context, target string, client netip.Addr) (Product, bool)

// Product calls f.
func (f ProductsFunc) Product(ctx context.Context, target string, client netip.Addr) (Product, bool) {
	return f(ctx, target, client)
}

// RenderOptions tune a Renderer; zero values take the defaults.
type RenderOptions struct {
	// TTL is how long a complete render is kept (default 10m): prices change, and a page whose
	// every product was had is rendered again at most once per TTL.
	TTL time.Duration
	// PartialTTL is how long a render that lacks some product's details, or says that no page has
	// the handle, is kept (default 15s): the details being fetched fill in soon.
	PartialTTL time.Duration
	// Size bounds the renders kept (default 1,000); past it the cache is emptied.
	Size int
	Now  func() time.Time
}

// Rendered is one page's HTML, ready to send.
type Rendered struct {
	Body  []byte // nil when Found is false
	ETag  string
	Found bool
	// Header are the headers of a 200 answer with Body (type, length, ETag, CSP and the other
	// security headers, caching), made once per render so that serving a kept render allocates
	// nothing for them. Shared: never modify it or its slices.
	Header map[string][]string
}

type cached struct {
	r       Rendered
	expires time.Time
}

// Renderer renders pages to HTML and keeps the renders. Forget drops them all: it is called on any
// change of a page or a short link, here or on another replica (through the invalidation bus), so a
// deleted link leaves every page at once. Safe for concurrent use.
type Renderer struct {
	pages    Pages
	links    Links
	products Products
	baseURL  string
	opts     RenderOptions

	loads flight.Group[loaded] // one render per page at a time

	mu    sync.Mutex        // guards cache and gen
	cache map[string]cached // by page key (lower-case handle)
	gen   uint64            // bumped by Forget: a render begun before it is not kept
}

// NewRenderer returns a Renderer of the pages in pages, whose items' short links links answers and
// whose products products describes; baseURL is the service's public origin.
func NewRenderer(pages Pages, links Links, products Products, baseURL string, opts RenderOptions) *Renderer {
	if opts.TTL <= 0 {
		opts.TTL = 10 * time.Minute
	}
	if opts.PartialTTL <= 0 {
		opts.PartialTTL = 15 * time.Second
	}
	if opts.Size <= 0 {
		opts.Size = 1000
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Renderer{pages: pages, links: links, products: products, baseURL: baseURL, opts: opts, cache: make(map[string]cached)}
}

// Forget drops every render kept.
func (r *Renderer) Forget() {
	r.mu.Lock()
	r.gen++
	clear(r.cache)
	r.mu.Unlock()
}

// Render returns the page with handle: from the renders kept, else rendered now. Found=false when
// no page has the handle. client names the visitor, for the budget of product-detail fetches. An
// error is the store's; nothing is kept then.
func (r *Renderer) Render(ctx context.Context, handle string, client netip.Addr) (Rendered, error) {
	key, ok := Key(handle)
	if !ok {
		return Rendered{}, nil
	}
	now := r.opts.Now()
	out, _, ok := r.kept(key, now)
	if ok {
		return out, nil
	}
	return r.renderOnce(ctx, key, client, now)
}

// kept returns the render kept for key, if any unexpired, and the generation it was read in.
func (r *Renderer) kept(key string, now time.Time) (Rendered, uint64, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, hit := r.cache[key]
	return c.r, r.gen, hit && now.Before(c.expires)
}

// renderOnce is Render's miss: it waits for the page's one render under way, or begins it.
func (r *Renderer) renderOnce(ctx context.Context, key string, client netip.Addr, now time.Time) (Rendered, error) {
	var out Rendered
	var gen uint64
	var ok bool
	// One render per page at a time: the visitors who arrive meanwhile wait for it. It outlives
	// the visitor who began it (the next ones find it kept), bounded by renderTimeout. A visitor
	// who joins a render begun before a Forget gets it once; it is not kept.
	var call *flight.Call[loaded]
	for call == nil {
		// A render that ended since the lookup above has kept its page: no new one begins.
		call, _ = r.loads.Do(key, func() bool {
			out, gen, ok = r.kept(key, now)
			return !ok
		}, r.load(ctx, key, client, now, &gen))
		if call == nil && ok {
			return out, nil
		}
	}
	select {
	case <-call.Done():
	case <-ctx.Done():
		return Rendered{}, fmt.Errorf("render page %s: %w", key, ctx.Err())
	}
	v := call.Val()
	return v.r, v.err
}

// load returns the render of the page key that Render runs once for its visitors: it keeps the
// render unless Forget was called since gen was read.
func (r *Renderer) load(ctx context.Context, key string, client netip.Addr, now time.Time, genp *uint64) func() loaded {
	return func() loaded {
		gen := *genp
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), renderTimeout)
		defer cancel()
		out, complete, err := r.render(lctx, key, client)
		if err != nil {
			return loaded{err: err}
		}
		ttl := r.opts.TTL
		if !complete || !out.Found {
			ttl = r.opts.PartialTTL
		}
		r.mu.Lock()
		if r.gen == gen {
			if len(r.cache) >= r.opts.Size {
				clear(r.cache)
			}
			r.cache[key] = cached{r: out, expires: now.Add(ttl)}
		}
		r.mu.Unlock()
		return loaded{r: out}
	}
}

// renderTimeout bounds one render: the store, the items' links, and the product details (each
// of which waits at most preview's own Timeout).
const renderTimeout = 5 * time.Second

// loaded is a render's outcome, shared by the visitors who waited for it.
type loaded struct {
	r   Rendered
	err error
}

// itemView is one item as the template shows it.
type itemView struct {
	Heading, Href, Label, Image, Price string
}

type pageView struct {
	Handle, Title, Text, Avatar, Initials, URL, OGImage, Description string
	Items                                                            []itemView
}

// render renders the page key; complete is false when some product's details were not had.
func (r *Renderer) render(ctx context.Context, key string, client netip.Addr) (Rendered, bool, error) {
	p, ok, err := r.pages.Get(ctx, key)
	if err != nil || !ok {
		return Rendered{}, true, err
	}
	v := pageView{
		Handle: p.Handle, Title: p.Title, Text: p.Text,
		URL:         r.baseURL + "/@" + p.Handle,
		Description: p.Text,
	}
	if preview.ValidImage(p.Avatar) {
		v.Avatar, v.OGImage = p.Avatar, p.Avatar
	} else {
		v.Initials = initials(p)
	}
	if v.Description == "" {
		v.Description = p.Title
	}
	items := make([]itemView, len(p.Items))
	keep := make([]bool, len(p.Items))
	complete := true
	var wg sync.WaitGroup
	var mu sync.Mutex // guards complete and err
	for i, it := range p.Items {
		if it.Heading != "" {
			items[i], keep[i] = itemView{Heading: it.Heading}, true
			continue
		}
		wg.Go(func() {
			l, ok, lerr := r.links.Link(ctx, it.ID)
			if lerr != nil || !ok || !l.Recorded {
				// A deleted or unknown link leaves the page; a failing store leaves it out of this
				// render only (kept briefly).
				if lerr != nil {
					mu.Lock()
					complete = false
					mu.Unlock()
				}
				return
			}
			iv := itemView{Href: "/" + it.ID + "?src=bio", Label: it.Caption}
			if prod, ok := r.products.Product(ctx, l.Target, client); ok {
				if iv.Label == "" {
					iv.Label = prod.Title
				}
				if preview.ValidImage(prod.Image) {
					iv.Image = prod.Image
				}
				if prod.Price != "" {
					iv.Price = strings.TrimSpace(prod.Price + " " + prod.Currency)
				}
			} else if strings.Contains(l.Target, "/item/") {
				mu.Lock()
				complete = false
				mu.Unlock()
			}
			if iv.Label == "" {
				iv.Label = strings.TrimPrefix(r.baseURL, "https://") + "/" + it.ID
			}
			items[i], keep[i] = iv, true
		})
	}
	wg.Wait()
	for i, ok := range keep {
		if ok {
			v.Items = append(v.Items, items[i])
		}
	}
	for _, it := range v.Items {
		if v.OGImage == "" && it.Image != "" {
			v.OGImage = it.Image
		}
	}
	var b bytes.Buffer
	if err := pageTemplate.Execute(&b, v); err != nil {
		return Rendered{}, false, fmt.Errorf("render page %s: %w", key, err)
	}
	sum := sha256.Sum256(b.Bytes())
	etag := `"` + base64.RawURLEncoding.EncodeToString(sum[:12]) + `"`
	return Rendered{Body: b.Bytes(), ETag: etag, Found: true, Header: map[string][]string{
		"Content-Type":            {"text/html; charset=utf-8"},
		"Content-Length":          {strconv.Itoa(b.Len())},
		"Etag":                    {etag},
		"Content-Security-Policy": {CSP},
		"X-Content-Type-Options":  {"nosniff"},
		"X-Frame-Options":         {"DENY"},
		"Referrer-Policy":         {"no-referrer"},
		// Revalidated on every visit (a 304 when unchanged), so every view reaches the counter
		// and a change shows at once.
		"Cache-Control": {"no-cache"},
	}}, complete, nil
}

//go:embed page.css
var pageCSS string

//go:embed page.html
var pageHTML string

// CSP is the Content-Security-Policy of a page: no script at all, its one style block by its hash,
// images only from AliExpress's image hosts.
var CSP = func() string {
	sum := sha256.Sum256([]byte(pageCSS))
	return "default-src 'none'; style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'; img-src " +
		preview.ImageSources + "; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
}()

// pageTemplate escapes every value (titles come from sellers, texts from creators); the style block
// is the template's own text, so its hash is pageCSS's.
var pageTemplate = template.Must(template.New("page").Parse(strings.Replace(pageHTML, "/*CSS*/", pageCSS, 1)))

// PreviewProducts is Products from the product details *preview.Previewer caches (and fetches,
// once per product, within the visitor's budget).
func PreviewProducts(p *preview.Previewer) Products {
	return ProductsFunc(func(ctx context.Context, target string, client netip.Addr) (Product, bool) {
		d, ok := p.Product(ctx, target, client)
		return Product{Title: d.Title, Image: d.ImageURL, Price: d.Price, Currency: d.Currency}, ok
	})
}
