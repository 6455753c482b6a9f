// Package aliurl decides whether a URL is an AliExpress page the redirector may send visitors to, and which page it is.
package aliurl

import (
	"strings"
	"unicode/utf8"
)

// MaxLength is the longest raw URL Parse and CheckDestination accept, in bytes.
const MaxLength = 2048

// Kind tells what sort of AliExpress page a Page is. The zero Kind belongs to no valid Page.
type Kind uint8

// The kinds of page Parse recognises.
const (
	// Product is a product page; Page.ID is the product id and Page.SKU the chosen variant, if any.
	Product Kind = iota + 1
	// Store is a store's home page; Page.ID is the store id.
	Store
	// Other is any other AliExpress page; Page.ID is empty.
	Other
	// Share is an app share link or short link that must be resolved (see Resolver) before it is a
	// destination; Page.ID is its code.
	Share
)

// String returns the kind's lower-case name, for logs and metrics.
func (k Kind) String() string {
	switch k {
	case Product:
		return "product"
	case Store:
		return "store"
	case Other:
		return "other"
	case Share:
		return "share"
	}
	return "invalid"
}

// Page is an accepted AliExpress page.
//
// URL is its canonical form, built only from validated parts: always https, on an AliExpress host, with no user
// info, port or fragment, and only allow-listed query keys. ID and SKU are substrings of URL.
type Page struct {
	Kind Kind
	// ID is the product id (Product), the store id (Store) or the share code (Share); empty for Other.
	ID string
	// SKU is the product variant (the sku_id query parameter), digits only; empty when none was given.
	SKU string
	// URL is the canonical URL.
	URL string
}

// Error is the error Parse, CheckDestination and Resolver.Resolve return. Its message is the Reason only, short and
// plain enough to show a visitor; the underlying cause, if any (network failures while resolving share links), is
// available through errors.Unwrap for logs.
type Error struct {
	// Reason is a short plain-language explanation, e.g. "not an AliExpress URL".
	Reason string
	// Err is the cause, or nil. It is never part of Error().
	Err error
}

// Error returns e.Reason.
func (e *Error) Error() string { return e.Reason }

// Unwrap returns e.Err.
func (e *Error) Unwrap() error { return e.Err }

// The errors Parse returns are shared values, so that a rejection costs no allocation.
var (
	errEmpty       = &Error{Reason: "missing URL"}
	errTooLong     = &Error{Reason: "URL too long"}
	errMalformed   = &Error{Reason: "malformed URL"}
	errNoScheme    = &Error{Reason: "URL must start with https://"}
	errScheme      = &Error{Reason: "only http and https URLs are accepted"}
	errUserInfo    = &Error{Reason: "URL must not contain a user name or password"}
	errPort        = &Error{Reason: "URL must not name a port"}
	errHost        = &Error{Reason: "not an AliExpress URL"}
	errUnsupported = &Error{Reason: "unsupported AliExpress link"}
	errNested      = &Error{Reason: "too many nested links"}
	errRedirector  = &Error{Reason: "AliExpress redirect links are not accepted as a destination"}
	errCarriesURL  = &Error{Reason: "URL carries another URL"}
)

// maxUnwrap bounds how many star.aliexpress.com share wrappers Parse unwraps inside one another.
const maxUnwrap = 2

// Parse checks that raw is an accepted AliExpress URL and returns the page it names, or an *Error whose message says
// why not. It does no I/O. Accepted: http or https, a host that is aliexpress.com, aliexpress.us, aliexpress.ru or a
// subdomain of one (ASCII letters, digits and hyphens only, one trailing dot allowed), the default port only, no user
// info, no control characters, spaces (except around the URL) or backslashes anywhere, at most MaxLength bytes.
// Trailing punctuation pasted with the URL is not part of it (see TrimPasted).
//
// Product pages (/item/<id>.html, /item/<id>, /i/<id>.html and the older /item/<name>/<id>.html and
// /store/product/<name>/<store>_<id>.html, on any accepted host) become https://www.aliexpress.com/item/<id>.html,
// or the same path on www.aliexpress.us or aliexpress.ru for those domains, with ?sku_id=<digits> kept when given.
// Store pages (/store/<id>) become https://www.aliexpress.com/store/<id> (or the .us/.ru equivalent). App share links
// (a.aliexpress.com/_<code>, s.click.aliexpress.com/e/<code>, click.aliexpress.com/e/<code>) are returned as Share
// for a Resolver; star.aliexpress.com/share/share.htm?redirectUrl=<url> is unwrapped and <url> parsed in its place.
// Any other page keeps its host and path (re-escaped; no dot segments, empty segments or encoded slashes) and only
// the query keys listed in otherQueryKeys, whose values must not look like URLs. Other paths on AliExpress's
// redirector hosts are rejected.
//
// Parse is safe for concurrent use, and Parse(p.URL) returns p for any page p it returned.
func Parse(raw string) (Page, error) {
	raw, _ = TrimPasted(raw)
	return parse(raw, 0)
}

// TrimPasted returns raw without the spaces around it and without the punctuation that comes along when a URL is
// copied from a sentence, which ends no AliExpress URL: . , ; : ! ? > " ' and typographic quotes, ellipses and
// full-width stops, commas and brackets (” ’ » … 。 ， ） and the like), and a ) or ] that closes nothing. A " or '
// is kept when it closes one opened in the URL. removed is the text cut from the end, without the spaces around
// it; "" when nothing was. Only what follows the host is ever cut, and only when raw starts with http:// or
// https://. TrimPasted does not allocate.
func TrimPasted(raw string) (url, removed string) {
	s := strings.Trim(raw, " ")
	rest, ok := cutScheme(s)
	if !ok {
		return s, ""
	}
	i := strings.IndexAny(rest, "/?#")
	if i < 0 || strings.IndexByte(rest[:i], ' ') >= 0 {
		// No path, or a space in the host: cutting would reach into what a browser reads as the host.
		return s, ""
	}
	start := len(s) - len(rest) + i // the first byte after the host, which is never cut
	var open [4]int                 // of ( [ " ' after the host, and of ) ] " ' for closing
	var closing [2]int
	for j := start; j < len(s); j++ {
		switch s[j] {
		case '(':
			open[0]++
		case '[':
			open[1]++
		case '"':
			open[2]++
		case '\'':
			open[3]++
		case ')':
			closing[0]++
		case ']':
			closing[1]++
		}
	}
	end := len(s)
	for end > start {
		c := s[end-1]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeLastRuneInString(s[:end])
			if !isPastedRune(r) {
				break
			}
			end -= size
			continue
		}
		switch c {
		case ' ', '.', ',', ';', ':', '!', '?', '>':
		case ')':
			if closing[0] <= open[0] {
				return trimmed(s, end)
			}
			closing[0]--
		case ']':
			if closing[1] <= open[1] {
				return trimmed(s, end)
			}
			closing[1]--
		case '"', '\'':
			k := 2
			if c == '\'' {
				k = 3
			}
			if open[k]%2 == 0 {
				return trimmed(s, end) // it closes a quote opened in the URL
			}
			open[k]--
		default:
			return trimmed(s, end)
		}
		end--
	}
	return trimmed(s, end)
}

// trimmed returns s cut at end, and what was cut without the spaces around it.
func trimmed(s string, end int) (string, string) {
	return strings.TrimRight(s[:end], " "), strings.Trim(s[end:], " ")
}

// isPastedRune reports whether r is typographic punctuation that ends sentences or quotes, never URLs: quotes
// ‘ ’ “ ” « » ‹ ›, the ellipsis …, the CJK 、 。 」 』 】 〉 》 and the full-width ！ ＂ ＇ ） ， ． ： ； ＞ ？ ］.
func isPastedRune(r rune) bool {
	switch r {
	case '\u2018', '\u2019', '\u201C', '\u201D', '\u00AB', '\u00BB', '\u2039', '\u203A',
		'\u2026',
		'\u3001', '\u3002', '\u300D', '\u300F', '\u3011', '\u3009', '\u300B',
		'\uFF01', '\uFF02', '\uFF07', '\uFF09', '\uFF0C', '\uFF0E', '\uFF1A', '\uFF1B', '\uFF1E', '\uFF1F', '\uFF3D':
		return true
	}
	return false
}

// parts is a URL split into validated pieces by split.
type parts struct {
	host  string // lower case or mixed case as given, without the trailing dot and port
	zone  zone
	sub   subdomain
	path  string // raw, starting with '/' or empty
	query string // raw, without '?'
}

func parse(raw string, depth int) (Page, error) {
	p, err := split(raw)
	if err != nil {
		return Page{}, err
	}
	switch p.sub {
	case subA:
		// a.aliexpress.com/_<code>
		if code, ok := strings.CutPrefix(p.path, "/"); ok && p.zone == zoneCom && len(code) > 1 && code[0] == '_' && isShareCode(code) {
			return sharePage("https://a.aliexpress.com/", code), nil
		}
		return Page{}, errRedirector
	case subSClick, subClick:
		if code, ok := strings.CutPrefix(p.path, "/e/"); ok && p.zone == zoneCom && isShareCode(code) {
			if p.sub == subSClick {
				return sharePage("https://s.click.aliexpress.com/e/", code), nil
			}
			return sharePage("https://click.aliexpress.com/e/", code), nil
		}
		return Page{}, errRedirector
	case subStar:
		if p.zone == zoneCom && (p.path == "/share/share.htm" || p.path == "/share/share.html") {
			return unwrapStar(p.query, depth)
		}
		return Page{}, errRedirector
	}

	if id, ok := productID(p.path); ok {
		return productPage(p.zone, id, skuID(p.query)), nil
	}
	if id, ok := storeID(p.path); ok {
		return storePage(p.zone, id), nil
	}
	return otherPage(p)
}

// split checks everything about raw that does not depend on the page's kind: size, characters, scheme, host and
// port. The host is the authority as a WHATWG parser reads it for http(s) URLs; since split rejects backslashes,
// control characters, '@', '%' and brackets, Go's and browsers' readings of the host cannot differ.
func split(raw string) (parts, error) {
	raw = strings.Trim(raw, " ")
	if raw == "" {
		return parts{}, errEmpty
	}
	if len(raw) > MaxLength {
		return parts{}, errTooLong
	}
	for i := 0; i < len(raw); i++ {
		if c := raw[i]; c <= ' ' || c == 0x7f || c == '\\' {
			return parts{}, errMalformed
		}
	}
	rest, ok := cutScheme(raw)
	if !ok {
		return parts{}, schemeError(raw)
	}
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	authority, tail := rest[:end], rest[end:]
	if strings.IndexByte(authority, '@') >= 0 {
		return parts{}, errUserInfo
	}
	host := authority
	if i := strings.IndexByte(authority, ':'); i >= 0 {
		host = authority[:i]
		if port := authority[i+1:]; port != "" && port != defaultPort(raw) {
			if isDigits(port) {
				return parts{}, errPort
			}
			return parts{}, errMalformed
		}
	}
	if host == "" {
		return parts{}, errMalformed
	}
	h, z, sub := checkHost(host)
	if z == zoneNone {
		return parts{}, errHost
	}
	p := parts{host: h, zone: z, sub: sub}
	if i := strings.IndexByte(tail, '#'); i >= 0 {
		tail = tail[:i] // the fragment is never passed on
	}
	if i := strings.IndexByte(tail, '?'); i >= 0 {
		p.path, p.query = tail[:i], tail[i+1:]
	} else {
		p.path = tail
	}
	return p, nil
}

// cutScheme returns what follows "http://" or "https://" at the start of raw, in any case. A scheme followed by
// anything but exactly two slashes (https:evil.com, https:/x, https:///x) is not accepted.
func cutScheme(raw string) (rest string, ok bool) {
	var n int
	switch {
	case len(raw) >= 8 && strings.EqualFold(raw[:8], "https://"):
		n = 8
	case len(raw) >= 7 && strings.EqualFold(raw[:7], "http://"):
		n = 7
	default:
		return "", false
	}
	rest = raw[n:]
	if rest == "" || rest[0] == '/' {
		return "", false
	}
	return rest, true
}

// defaultPort returns the default port of raw's scheme, which cutScheme accepted.
func defaultPort(raw string) string {
	if raw[4] == ':' {
		return "80"
	}
	return "443"
}

// schemeError tells why cutScheme refused raw.
func schemeError(raw string) error {
	i := strings.IndexByte(raw, ':')
	if i <= 0 {
		return errNoScheme
	}
	scheme := raw[:i]
	if strings.EqualFold(scheme, "http") || strings.EqualFold(scheme, "https") {
		return errMalformed
	}
	if strings.IndexByte(scheme, '.') >= 0 {
		return errNoScheme // a host and port, most likely
	}
	for j := 0; j < len(scheme); j++ {
		c := scheme[j] | 0x20
		if !(c >= 'a' && c <= 'z' || j > 0 && (scheme[j] >= '0' && scheme[j] <= '9' || c == '+' || c == '-' || c == '.')) {
			// Not a scheme: www.aliexpress.com:443/…, or a path.
			return errNoScheme
		}
	}
	return errScheme
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// isNumber reports whether s is a decimal id: 1 to 20 digits, no leading zero.
func isNumber(s string) bool {
	return len(s) <= 20 && isDigits(s) && s[0] != '0'
}

// isShareCode reports whether s can be a share link's code: 1 to 64 letters, digits, '_' or '-'.
func isShareCode(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func sharePage(prefix, code string) Page {
	u := prefix + code
	return Page{Kind: Share, ID: u[len(prefix):], URL: u}
}

// productID finds the product id in a product page's path.
func productID(path string) (string, bool) {
	var rest string
	switch {
	case strings.HasPrefix(path, "/item/"):
		rest = path[len("/item/"):]
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			// /item/<name>/<id>.html, the form used until about 2019.
			if !isSlug(rest[:i]) {
				return "", false
			}
			rest, ok := strings.CutSuffix(rest[i+1:], ".html")
			return rest, ok && isNumber(rest)
		}
		rest = strings.TrimSuffix(rest, ".html")
	case strings.HasPrefix(path, "/i/"):
		var ok bool
		rest, ok = strings.CutSuffix(path[len("/i/"):], ".html")
		if !ok {
			return "", false
		}
	case strings.HasPrefix(path, "/store/product/"):
		// /store/product/<name>/<store>_<id>.html
		rest = path[len("/store/product/"):]
		i := strings.IndexByte(rest, '/')
		if i < 0 || !isSlug(rest[:i]) {
			return "", false
		}
		rest, ok := strings.CutSuffix(rest[i+1:], ".html")
		if !ok {
			return "", false
		}
		store, id, ok := strings.Cut(rest, "_")
		return id, ok && isNumber(store) && isNumber(id)
	default:
		return "", false
	}
	return rest, isNumber(rest)
}

// isSlug reports whether s is a product-name segment of an old product URL: 1 to 256 letters, digits, '-', '_', '.'
// or percent escapes. It is dropped from the canonical URL, so it is only checked to be plain.
func isSlug(s string) bool {
	if s == "" || len(s) > 256 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == '%') {
			return false
		}
	}
	return true
}

// storeID finds the store id in a store page's path: /store/<id> or /store/<id>/.
func storeID(path string) (string, bool) {
	rest, ok := strings.CutPrefix(path, "/store/")
	if !ok {
		return "", false
	}
	rest = strings.TrimSuffix(rest, "/")
	return rest, isNumber(rest)
}

// skuID returns the first sku_id in query whose value is a valid id, or "".
func skuID(query string) string {
	for query != "" {
		var pair string
		pair, query, _ = strings.Cut(query, "&")
		if v, ok := strings.CutPrefix(pair, "sku_id="); ok && isNumber(v) {
			return v
		}
	}
	return ""
}

// canonical origins per zone.
const (
	originCom = "https://www.aliexpress.com"
	originUS  = "https://www.aliexpress.us"
	originRU  = "https://aliexpress.ru"
)

func origin(z zone) string {
	switch z {
	case zoneUS:
		return originUS
	case zoneRU:
		return originRU
	}
	return originCom
}

// productPage builds a product's canonical URL in one allocation; ID and SKU point into it.
func productPage(z zone, id, sku string) Page {
	o := origin(z)
	n := len(o) + len("/item/") + len(id) + len(".html")
	if sku != "" {
		n += len("?sku_id=") + len(sku)
	}
	var b strings.Builder
	b.Grow(n)
	b.WriteString(o)
	b.WriteString("/item/")
	b.WriteString(id)
	b.WriteString(".html")
	if sku != "" {
		b.WriteString("?sku_id=")
		b.WriteString(sku)
	}
	u := b.String()
	start := len(o) + len("/item/")
	p := Page{Kind: Product, ID: u[start : start+len(id)], URL: u}
	if sku != "" {
		p.SKU = u[len(u)-len(sku):]
	}
	return p
}

func storePage(z zone, id string) Page {
	o := origin(z)
	u := o + "/store/" + id
	return Page{Kind: Store, ID: u[len(u)-len(id):], URL: u}
}

// ShortKey returns the product id of a product's canonical URL on the main site
// (https://www.aliexpress.com/item/<id>.html), which names the page as well in a third of the
// memory; any other URL, canonical or not, is returned as it is. An id, all digits, is never
// itself a canonical URL, so the two kinds of keys cannot meet. It does not allocate.
func ShortKey(canonical string) string {
	rest, ok := strings.CutPrefix(canonical, originCom+"/item/")
	if !ok {
		return canonical
	}
	id, ok := strings.CutSuffix(rest, ".html")
	if !ok || id == "" {
		return canonical
	}
	for i := 0; i < len(id); i++ {
		if id[i] < '0' || id[i] > '9' {
			return canonical
		}
	}
	return id
}
