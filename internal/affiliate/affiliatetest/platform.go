// Package affiliatetest is a strict stand-in for the AliExpress Open Platform's /sync endpoint and for
// AliExpress's share-link hosts, for tests and for the -dev sandbox: it checks every request as the
// platform does and answers in the platform's own shapes. It does not import testing.
package affiliatetest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The methods the fake serves.
const (
	MethodLinkGenerate  = "aliexpress.affiliate.link.generate"
	MethodProductDetail = "aliexpress.affiliate.productdetail.get"
	MethodProductQuery  = "aliexpress.affiliate.product.query"
)

// MaxProductIDs is the most ids the fake's productdetail.get takes in one call; more is an
// InvalidParameter error. The public SDKs read state no limit (see affiliate.MaxDetailIDs): this is
// the client's conservative choice, held to here so that a client sending more fails in tests.
const MaxProductIDs = 20

// defaultCommission is the commission_rate the fake reports for a promotable product that names
// none; a product made not promotable (SetProductNotPromotable) reports zeroCommission.
const (
	defaultCommission = "7.0%"
	zeroCommission    = "0.0%"
)

const (
	maxSkew     = 15 * time.Minute
	hangMax     = time.Minute
	keepSources = 10000
	keepReqs    = 1000
)

// PlatformConfig describes the app the fake knows. Zero fields take the defaults named on them.
type PlatformConfig struct {
	AppKey     string // default "12345678"
	Secret     string // default "test_secret_0123456789abcdef"
	TrackingID string // default "test_tracking"
	// TrackingIDs are more tracking ids (channels) the app has, accepted besides TrackingID.
	TrackingIDs []string
	// OrderZone is the zone of order times, in requests and answers; default America/Los_Angeles.
	OrderZone *time.Location
	// LinkFunc makes the promotion link for a source; default Link. It may be called concurrently.
	LinkFunc func(source string) string
	// Now is the platform's clock, for checking timestamps; default time.Now.
	Now func() time.Time
	// BanSeconds is how long an ApiCallLimit answer bans the app; default 1.
	BanSeconds int
	// Simplify answers lists as bare arrays ("promotion_links":[…]) instead of {"promotion_link":[…]}.
	Simplify bool
	// ProductFunc makes productdetail.get's answer for a product id that SetProduct did not set;
	// ok=false: the platform knows no such product. Default: none is known. It may be called
	// concurrently, with the platform's lock held.
	ProductFunc func(id string) (p Product, ok bool)
}

// Product is what the fake's productdetail.get reports for an id.
type Product struct {
	ID, Title, ImageURL, Price, Currency string
	CommissionRate                       string // default "7.0%" ("0.0%" once SetProductNotPromotable)
	ShopURL                              string // the seller's store page; empty: not reported
}

// Failure is a way the fake can be told to fail.
type Failure int

// Failures. Fail5xx, FailHTML, FailGarbage and FailHang happen before the request is checked, as at a
// gateway; the others after it passed every check.
const (
	FailNone          Failure = iota // answer normally
	Fail5xx                          // HTTP 503 with a plain-text body
	FailHTML                         // HTTP 200 with an HTML page
	FailGarbage                      // HTTP 200 with truncated JSON
	FailHang                         // no answer until the request's context ends (or a minute passes)
	FailRateLimit                    // error_response ApiCallLimit, and a ban of BanSeconds for every call
	FailEmpty                        // resp_code 405 "The result is empty"
	FailNotRegistered                // resp_code 401 "This publisher is not registered"
)

// Platform is the fake platform, an http.Handler. Its methods are safe for concurrent use.
type Platform struct {
	cfg PlatformConfig

	mu            sync.Mutex // guards everything below
	calls         int
	seq           int
	sources       []string     // the last keepSources source values received
	requests      []url.Values // the last keepReqs request forms received
	failure       Failure
	failLeft      int // calls failure still applies to; negative: every call
	latency       time.Duration
	bannedUntil   time.Time
	notPromotable map[string]bool
	products      map[string]Product
	orders        orderBook
	removed       map[string]bool // product ids the platform no longer knows (RemoveProduct)
	unpromotable  map[string]bool // product ids without commission (SetProductNotPromotable)
}

// NewPlatform returns a fake for cfg.
func NewPlatform(cfg PlatformConfig) *Platform {
	if cfg.AppKey == "" {
		cfg.AppKey = "12345678"
	}
	if cfg.Secret == "" {
		cfg.Secret = "test_secret_0123456789abcdef"
	}
	if cfg.TrackingID == "" {
		cfg.TrackingID = "test_tracking"
	}
	if cfg.LinkFunc == nil {
		cfg.LinkFunc = Link
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.OrderZone == nil {
		cfg.OrderZone = orderZone
	}
	if cfg.BanSeconds <= 0 {
		cfg.BanSeconds = 1
	}
	return &Platform{cfg: cfg, notPromotable: make(map[string]bool), products: make(map[string]Product),
		removed: make(map[string]bool), unpromotable: make(map[string]bool)}
}

// NewServer starts a fake on a loopback port. The caller closes the server.
func NewServer(cfg PlatformConfig) (*Platform, *httptest.Server) {
	p := NewPlatform(cfg)
	return p, httptest.NewServer(p)
}

// Config returns the fake's configuration, defaults filled in.
func (p *Platform) Config() PlatformConfig { return p.cfg }

// Link is the default promotion link for source: https://s.click.aliexpress.com/e/_ and a short code
// that depends only on source.
func Link(source string) string {
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	sum := sha256.Sum256([]byte(source))
	code := make([]byte, 7)
	for i := range code {
		code[i] = alphabet[int(sum[i])%len(alphabet)]
	}
	return "https://s.click.aliexpress.com/e/_" + string(code)
}

// FailNext makes the next n calls fail as f. FailNext(FailNone, 0) clears it.
func (p *Platform) FailNext(f Failure, n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.failure, p.failLeft = f, n
}

// FailAlways makes every call fail as f until told otherwise.
func (p *Platform) FailAlways(f Failure) { p.FailNext(f, -1) }

// SetLatency delays every answer by d (cut short when the request's context ends).
func (p *Platform) SetLatency(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.latency = d
}

// SetNotPromotable makes link.generate answer sources with no promotion link.
func (p *Platform) SetNotPromotable(sources ...string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, s := range sources {
		p.notPromotable[s] = true
	}
}

// SetProduct makes productdetail.get know product id.
func (p *Platform) SetProduct(id string, prod Product) {
	p.mu.Lock()
	defer p.mu.Unlock()
	prod.ID = id
	p.products[id] = prod
}

// RemoveProduct makes the products disappear, as a product taken down does: productdetail.get
// answers nothing for them (ProductFunc included), product.query no longer finds them.
func (p *Platform) RemoveProduct(ids ...string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, id := range ids {
		p.removed[id] = true
	}
}

// RestoreProduct brings products RemoveProduct made disappear back, as a product put up again.
func (p *Platform) RestoreProduct(ids ...string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, id := range ids {
		delete(p.removed, id)
	}
}

// SetProductNotPromotable takes the products out of the affiliate programme: productdetail.get
// reports them with a commission_rate of "0.0%", link.generate gives their product pages
// (https://<host>/item/<id>.html) no promotion link, and product.query leaves them out.
func (p *Platform) SetProductNotPromotable(ids ...string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, id := range ids {
		p.unpromotable[id] = true
	}
}

// CallsOf returns how many requests for method the fake received, good or bad.
func (p *Platform) CallsOf(method string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, r := range p.requests {
		if r.Get("method") == method {
			n++
		}
	}
	return n
}

// Calls returns how many requests the fake received, good or bad.
func (p *Platform) Calls() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls
}

// SourceValues returns the source values of the link.generate requests received, in order (at least
// the last 10000).
func (p *Platform) SourceValues() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.sources)
}

// Requests returns copies of the forms of the requests received, in order (at least the last 1000).
func (p *Platform) Requests() []url.Values {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]url.Values, len(p.requests))
	for i, r := range p.requests {
		out[i] = cloneForm(r)
	}
	return out
}

// Reset forgets the calls, source values and requests received, and clears failures, latency and
// any ban. Products and not-promotable sources stay.
func (p *Platform) Reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls, p.sources, p.requests = 0, nil, nil
	p.failure, p.failLeft, p.latency, p.bannedUntil = FailNone, 0, 0, time.Time{}
}

// apiError is an error_response.
type apiError struct{ code, msg string }

// ServeHTTP answers one /sync request as the platform would.
func (p *Platform) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm() // a malformed body leaves PostForm short, and the checks below say what is missing
	form := r.PostForm

	p.mu.Lock()
	p.calls++
	p.seq++
	reqID := fmt.Sprintf("21%011d", p.seq)
	p.requests = keepLast(append(p.requests, cloneForm(form)), keepReqs)
	if form.Get("method") == MethodLinkGenerate && form.Get("source_values") != "" {
		p.sources = keepLast(append(p.sources, strings.Split(form.Get("source_values"), ",")...), keepSources)
	}
	fail := FailNone
	if p.failLeft != 0 {
		fail = p.failure
		if p.failLeft > 0 {
			p.failLeft--
		}
	}
	if m := form.Get("method"); m == MethodOrderListByIndex || m == MethodOrderGet {
		fail = p.orders.failure(fail)
	}
	latency := p.latency
	p.mu.Unlock()

	if !sleep(r, latency) {
		return
	}
	switch fail {
	case Fail5xx:
		http.Error(w, "service unavailable", http.StatusServiceUnavailable)
		return
	case FailHTML:
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, "<!DOCTYPE html><html><head><title>Error</title></head><body>Sorry, something went wrong.</body></html>")
		return
	case FailGarbage:
		w.Header().Set("Content-Type", "application/json;charset=UTF-8")
		fmt.Fprint(w, `{"aliexpress_affiliate_link_generate_response":{"resp_result":{"resp_co`)
		return
	case FailHang:
		sleep(r, hangMax)
		return
	}

	if e := p.check(r, form); e != nil {
		writeJSON(w, errorBody(e, reqID))
		return
	}
	switch fail {
	case FailRateLimit:
		p.mu.Lock()
		p.bannedUntil = time.Now().Add(time.Duration(p.cfg.BanSeconds) * time.Second)
		p.mu.Unlock()
		writeJSON(w, errorBody(banError(p.cfg.BanSeconds), reqID))
		return
	case FailEmpty:
		writeJSON(w, respBody(form.Get("method"), 405, "The result is empty", nil, reqID))
		return
	case FailNotRegistered:
		writeJSON(w, respBody(form.Get("method"), 401, "This publisher is not registered", nil, reqID))
		return
	}
	switch form.Get("method") {
	case MethodLinkGenerate:
		p.linkGenerate(w, form, reqID)
	case MethodProductDetail:
		p.productDetail(w, form, reqID)
	case MethodOrderListByIndex:
		p.orderListByIndex(w, form, reqID)
	case MethodOrderGet:
		p.orderGet(w, form, reqID)
	case MethodProductQuery:
		p.productQuery(w, form, reqID)
	}
}

// check verifies what the gateway verifies: a POST form, the system parameters, the app key, the
// timestamp, the signature and any ban; then the method's own required parameters.
func (p *Platform) check(r *http.Request, form url.Values) *apiError {
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); r.Method != http.MethodPost || ct != "application/x-www-form-urlencoded" {
		return &apiError{"InvalidParameter", "this fake accepts only POST with an application/x-www-form-urlencoded body"}
	}
	for name, vs := range form {
		if len(vs) != 1 {
			return &apiError{"InvalidParameter", fmt.Sprintf("parameter %q is given %d times", name, len(vs))}
		}
	}
	for _, name := range []string{"app_key", "method", "timestamp", "sign_method", "v", "sign"} {
		if form.Get(name) == "" {
			return missing(name)
		}
	}
	if form.Get("app_key") != p.cfg.AppKey {
		return &apiError{"InvalidAppKey", "The specified App Key is invalid"}
	}
	if form.Get("sign_method") != "sha256" {
		return &apiError{"InvalidParameter", "sign_method must be sha256"}
	}
	if form.Get("v") != "2.0" {
		return &apiError{"InvalidParameter", "v must be 2.0"}
	}
	ms, err := strconv.ParseInt(form.Get("timestamp"), 10, 64)
	if skew := p.cfg.Now().Sub(time.UnixMilli(ms)); err != nil || skew > maxSkew || skew < -maxSkew {
		return &apiError{"InvalidTimestamp", "The timestamp is invalid or expired, it must be in milliseconds within 15 minutes of the server time"}
	}
	if !hmac.Equal([]byte(form.Get("sign")), []byte(sign(p.cfg.Secret, form))) {
		return &apiError{"IncompleteSignature", "The request signature does not conform to platform standards"}
	}
	p.mu.Lock()
	banned := time.Until(p.bannedUntil)
	p.mu.Unlock()
	if banned > 0 {
		return banError(int((banned + time.Second - 1) / time.Second))
	}
	var required []string
	switch form.Get("method") {
	case MethodLinkGenerate:
		required = []string{"tracking_id", "promotion_link_type", "source_values"}
	case MethodProductDetail:
		required = []string{"product_ids"}
		if n := len(strings.Split(form.Get("product_ids"), ",")); n > MaxProductIDs {
			return &apiError{"InvalidParameter", fmt.Sprintf("product_ids carries %d ids; at most %d are allowed", n, MaxProductIDs)}
		}
	case MethodOrderListByIndex:
		required = []string{"start_time", "end_time", "status"}
	case MethodOrderGet:
		required = []string{"order_ids"}
	case MethodProductQuery:
		if n, err := strconv.Atoi(form.Get("page_size")); form.Get("page_size") != "" && (err != nil || n < 1 || n > 50) {
			return &apiError{"InvalidParameter", "page_size must be from 1 to 50"}
		}
	default:
		return &apiError{"InvalidApiPath", "The specified API path is invalid"}
	}
	for _, name := range required {
		if form.Get(name) == "" {
			return missing(name)
		}
	}
	if t := form.Get("tracking_id"); t != "" && t != p.cfg.TrackingID && !slices.Contains(p.cfg.TrackingIDs, t) {
		return &apiError{"InvalidParameter", "The tracking_id is not one of this app's tracking IDs"}
	}
	if t := form.Get("promotion_link_type"); t != "" && t != "0" && t != "2" {
		return &apiError{"InvalidParameter", "promotion_link_type must be 0 or 2"}
	}
	return nil
}

func (p *Platform) linkGenerate(w http.ResponseWriter, form url.Values, reqID string) {
	sources := strings.Split(form.Get("source_values"), ",")
	p.mu.Lock()
	skip := make([]bool, len(sources))
	for i, s := range sources {
		skip[i] = p.notPromotable[s] || p.unpromotable[itemID(s)]
	}
	p.mu.Unlock()
	links := []map[string]string{}
	n := 0
	for i, s := range sources {
		if skip[i] {
			links = append(links, map[string]string{"source_value": s})
			continue
		}
		links = append(links, map[string]string{"promotion_link": p.cfg.LinkFunc(s), "source_value": s})
		n++
	}
	result := map[string]any{
		"promotion_links":    p.list("promotion_link", links),
		"total_result_count": n,
		"tracking_id":        form.Get("tracking_id"),
	}
	writeJSON(w, respBody(MethodLinkGenerate, 200, "Call succeeds", result, reqID))
}

func (p *Platform) productDetail(w http.ResponseWriter, form url.Values, reqID string) {
	var found []map[string]any
	p.mu.Lock()
	for _, id := range strings.Split(form.Get("product_ids"), ",") {
		if _, err := strconv.ParseUint(id, 10, 64); err != nil {
			continue
		}
		prod, ok := p.products[id]
		if !ok && p.cfg.ProductFunc != nil {
			prod, ok = p.cfg.ProductFunc(id)
		}
		if !ok || p.removed[id] {
			continue
		}
		prod.ID = id
		found = append(found, p.productFields(prod))
	}
	p.mu.Unlock()
	if len(found) == 0 {
		writeJSON(w, respBody(MethodProductDetail, 405, "The result is empty", nil, reqID))
		return
	}
	result := map[string]any{"current_record_count": len(found), "products": p.list("product", found)}
	writeJSON(w, respBody(MethodProductDetail, 200, "Call succeeds", result, reqID))
}

// productFields is a product as productdetail.get and product.query answer it (field names from
// sergioteula/python-aliexpress-api, models/product.py). Called with p.mu held.
func (p *Platform) productFields(prod Product) map[string]any {
	comm := prod.CommissionRate
	if comm == "" {
		comm = defaultCommission
	}
	if p.unpromotable[prod.ID] {
		comm = zeroCommission
	}
	f := map[string]any{
		"product_id":                 json.Number(prod.ID),
		"product_title":              prod.Title,
		"product_main_image_url":     prod.ImageURL,
		"target_sale_price":          prod.Price,
		"target_sale_price_currency": prod.Currency,
		"commission_rate":            comm,
	}
	if prod.ShopURL != "" {
		f["shop_url"] = prod.ShopURL
	}
	return f
}

// productQuery answers product.query: the products set with SetProduct that are neither removed nor
// unpromotable and whose title shares a word with keywords (in any case), by id, up to page_size
// (default 20). The shape is productdetail.get's with paging counts (ProductsResponse in
// sergioteula/python-aliexpress-api, models/product.py).
func (p *Platform) productQuery(w http.ResponseWriter, form url.Values, reqID string) {
	size := 20
	if n, err := strconv.Atoi(form.Get("page_size")); err == nil {
		size = n
	}
	words := strings.Fields(strings.ToLower(form.Get("keywords")))
	var found []map[string]any
	p.mu.Lock()
	for _, id := range slices.Sorted(maps.Keys(p.products)) {
		prod := p.products[id]
		if p.removed[id] || p.unpromotable[id] || len(found) == size {
			continue
		}
		title := strings.Fields(strings.ToLower(prod.Title))
		if slices.ContainsFunc(words, func(w string) bool { return slices.Contains(title, w) }) {
			found = append(found, p.productFields(prod))
		}
	}
	p.mu.Unlock()
	if len(found) == 0 {
		writeJSON(w, respBody(MethodProductQuery, 405, "The result is empty", nil, reqID))
		return
	}
	result := map[string]any{
		"current_page_no": 1, "current_record_count": len(found), "total_record_count": len(found),
		"products": p.list("product", found),
	}
	writeJSON(w, respBody(MethodProductQuery, 200, "Call succeeds", result, reqID))
}

// itemID is the product id of a product page source (/item/<id>.html), or "".
func itemID(source string) string {
	_, rest, ok := strings.Cut(source, "/item/")
	if !ok {
		return ""
	}
	id, _, _ := strings.Cut(rest, ".html")
	return id
}

func (p *Platform) list(name string, items any) any {
	if p.cfg.Simplify {
		return items
	}
	return map[string]any{name: items}
}

// sign is the platform's signature, written apart from the client's so that the fake checks it.
func sign(secret string, form url.Values) string {
	var sb strings.Builder
	for _, k := range slices.Sorted(maps.Keys(form)) {
		if k != "sign" {
			sb.WriteString(k)
			sb.WriteString(form.Get(k))
		}
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(sb.String()))
	return strings.ToUpper(hex.EncodeToString(mac.Sum(nil)))
}

func missing(name string) *apiError {
	return &apiError{"MissingParameter", fmt.Sprintf("The input parameter \u201c%s\u201d that is mandatory for processing this request is not supplied.", name)}
}

func banError(seconds int) *apiError {
	return &apiError{"ApiCallLimit", fmt.Sprintf("Api access frequency exceeds the limit. this ban will last %d seconds", seconds)}
}

func errorBody(e *apiError, reqID string) any {
	return map[string]any{"error_response": map[string]string{"type": "ISV", "code": e.code, "msg": e.msg, "request_id": reqID}}
}

func respBody(method string, code int, msg string, result any, reqID string) any {
	rr := map[string]any{"resp_code": code, "resp_msg": msg}
	if result != nil {
		rr["result"] = result
	}
	key := strings.ReplaceAll(method, ".", "_") + "_response"
	return map[string]any{key: map[string]any{"resp_result": rr, "request_id": reqID}}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// sleep waits d or until r's context ends, reporting whether d passed.
func sleep(r *http.Request, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	}
}

func cloneForm(f url.Values) url.Values {
	out := make(url.Values, len(f))
	for k, v := range f {
		out[k] = slices.Clone(v)
	}
	return out
}

// keepLast bounds a log to its last n entries, trimming only once it doubles so appends stay cheap.
func keepLast[T any](s []T, n int) []T {
	if len(s) > 2*n {
		return slices.Clone(s[len(s)-n:])
	}
	return s
}
