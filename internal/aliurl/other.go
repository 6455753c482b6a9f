package aliurl

import (
	"net/url"
	"strings"
	"unicode/utf8"
)

// otherQueryKeys are the query keys kept on Other pages: search, category, sorting, paging and filter settings of
// listing pages, and the store reference of the older mobile store pages. Keys are matched exactly as written
// (case-sensitively, without escapes); every other key (tracking, session, redirect targets…) is dropped. A kept
// value must decode to at most maxQueryValue bytes of UTF-8 text without control characters that does not look
// like a URL (see looksLikeURL).
var otherQueryKeys = [...]string{
	"SearchText",
	"catId",
	"CatId",
	"categoryId",
	"page",
	"sortType",
	"SortType",
	"g",
	"minPrice",
	"maxPrice",
	"shipFromCountry",
	"isFreeShip",
	"sellerAdminSeq",
	"storeId",
}

const maxQueryValue = 256

// otherPage builds the canonical URL of a page that is neither a product, a store nor a share link.
func otherPage(p parts) (Page, error) {
	var b strings.Builder
	b.Grow(len("https://") + len(p.host) + len(p.path) + len(p.query) + 8)
	b.WriteString("https://")
	appendLower(&b, p.host)
	if !appendPath(&b, p.path) {
		return Page{}, errMalformed
	}
	pathEnd := b.Len()
	appendOtherQuery(&b, p.query)
	if b.Len() > MaxLength {
		return Page{}, errTooLong
	}
	u := b.String()
	// Escaped letters and digits are written plainly, so the canonical path can be a product's or a store's
	// (/i/1%30.html is /i/10.html) and must be classified again for Parse to be idempotent.
	path := u[len("https://")+len(p.host) : pathEnd]
	if id, ok := productID(path); ok {
		return productPage(p.zone, id, skuID(p.query)), nil
	}
	if id, ok := storeID(path); ok {
		return storePage(p.zone, id), nil
	}
	if t, _ := TrimPasted(u); len(t) != len(u) {
		// Parse would cut the last character as pasted punctuation (a path ending in '.', a last search text
		// ending in ','…): written escaped, it stays, and Parse(u) is this page.
		const hex = "0123456789ABCDEF"
		c := u[len(u)-1]
		u = u[:len(u)-1] + "%" + hex[c>>4:c>>4+1] + hex[c&15:c&15+1]
		if len(u) > MaxLength {
			return Page{}, errTooLong
		}
	}
	return Page{Kind: Other, URL: u}, nil
}

// appendPath checks a raw path and, when b is not nil, writes it re-escaped: letters, digits and -._~!$&()*+,;=:@
// as they are, every other byte as %XX. It refuses dot segments, empty segments (but a trailing slash), encoded
// slashes and backslashes, encoded control characters and double encoding (an encoded '%'), and anything that does
// not decode to UTF-8. An empty path is written as "/".
func appendPath(b *strings.Builder, path string) bool {
	if path == "" {
		if b != nil {
			b.WriteByte('/')
		}
		return true
	}
	if path[0] != '/' {
		return false
	}
	var buf [64]byte
	dec := buf[:0]
	rest := path[1:]
	for {
		seg, more, found := strings.Cut(rest, "/")
		if seg == "" && found {
			return false
		}
		dec = dec[:0]
		for j := 0; j < len(seg); j++ {
			c := seg[j]
			if c == '%' {
				if j+2 >= len(seg) || !isHex(seg[j+1]) || !isHex(seg[j+2]) {
					return false
				}
				c = unhex(seg[j+1])<<4 | unhex(seg[j+2])
				j += 2
				if c == '/' || c == '\\' || c == '%' || c < ' ' || c == 0x7f {
					return false
				}
			}
			dec = append(dec, c)
		}
		if !utf8.Valid(dec) || string(dec) == "." || string(dec) == ".." {
			return false
		}
		if b != nil {
			b.WriteByte('/')
			for _, c := range dec {
				if isPathLiteral(c) {
					b.WriteByte(c)
				} else {
					writeEscaped(b, c)
				}
			}
		}
		if !found {
			return true
		}
		rest = more
	}
}

// isPathLiteral reports whether c is written unescaped in a canonical path.
func isPathLiteral(c byte) bool {
	if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
		return true
	}
	switch c {
	case '-', '.', '_', '~', '!', '$', '&', '(', ')', '*', '+', ',', ';', '=', ':', '@':
		return true
	}
	return false
}

func writeEscaped(b *strings.Builder, c byte) {
	const hex = "0123456789ABCDEF"
	b.WriteByte('%')
	b.WriteByte(hex[c>>4])
	b.WriteByte(hex[c&15])
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// appendOtherQuery writes "?" and the allow-listed keys of query with their checked values, re-escaped, in the order
// they first appear; nothing when none is kept.
func appendOtherQuery(b *strings.Builder, query string) {
	var seen [len(otherQueryKeys)]bool
	first := true
	for query != "" {
		var pair string
		pair, query, _ = strings.Cut(query, "&")
		key, raw, _ := strings.Cut(pair, "=")
		k := allowedKey(key)
		if k < 0 || seen[k] {
			continue
		}
		v, ok := queryValue(raw)
		if !ok {
			continue
		}
		seen[k] = true
		if first {
			b.WriteByte('?')
			first = false
		} else {
			b.WriteByte('&')
		}
		b.WriteString(otherQueryKeys[k])
		b.WriteByte('=')
		b.WriteString(url.QueryEscape(v))
	}
}

func allowedKey(key string) int {
	for i, k := range otherQueryKeys {
		if key == k {
			return i
		}
	}
	return -1
}

// queryValue decodes a raw query value and reports whether it may be kept.
func queryValue(raw string) (string, bool) {
	if raw == "" {
		return "", false
	}
	v, err := url.QueryUnescape(raw)
	if err != nil || v == "" || len(v) > maxQueryValue || !utf8.ValidString(v) || looksLikeURL(v) {
		return "", false
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < ' ' || c == 0x7f {
			return "", false
		}
	}
	for _, r := range v {
		if r >= 0x80 && r <= 0x9f || r == 0x2028 || r == 0x2029 || r == 0xfeff || r >= 0x202a && r <= 0x202e {
			// C1 controls, line separators, byte-order marks and bidi overrides.
			return "", false
		}
	}
	return v, true
}

// looksLikeURL reports whether a decoded query value could be read as a link: it contains "//", ":/" or a
// backslash, starts with a scheme ("javascript:", "https:", "intent:"…) or with "www.", or still decodes (up to
// twice more) to such a value.
func looksLikeURL(v string) bool {
	for range 3 {
		if strings.Contains(v, "//") || strings.Contains(v, ":/") || strings.IndexByte(v, '\\') >= 0 ||
			hasSchemePrefix(v) || len(v) >= 4 && strings.EqualFold(v[:4], "www.") {
			return true
		}
		if strings.IndexByte(v, '%') < 0 {
			return false
		}
		d, err := url.QueryUnescape(v)
		if err != nil || d == v {
			return false
		}
		v = d
	}
	return true
}

// hasSchemePrefix reports whether v starts with something a URL parser reads as a scheme: a letter, then letters,
// digits, '+', '-' or '.', then ':'.
func hasSchemePrefix(v string) bool {
	for i := 0; i < len(v); i++ {
		c := v[i] | 0x20
		switch {
		case c >= 'a' && c <= 'z':
		case i > 0 && (v[i] >= '0' && v[i] <= '9' || v[i] == '+' || v[i] == '-' || v[i] == '.'):
		case i > 0 && v[i] == ':':
			return true
		default:
			return false
		}
	}
	return false
}

// unwrapStar parses the target of a star.aliexpress.com share page in its place.
func unwrapStar(query string, depth int) (Page, error) {
	if depth >= maxUnwrap {
		return Page{}, errNested
	}
	for query != "" {
		var pair string
		pair, query, _ = strings.Cut(query, "&")
		if raw, ok := strings.CutPrefix(pair, "redirectUrl="); ok {
			target, err := url.QueryUnescape(raw)
			if err != nil {
				return Page{}, errMalformed
			}
			return parse(target, depth+1)
		}
	}
	return Page{}, errUnsupported
}

// CheckDestination reports whether rawURL may be sent as a redirect's Location: nil if so, an *Error otherwise. It
// accepts what Parse's canonical URLs look like, and the platform's own affiliate links on s.click.aliexpress.com
// (/e/<code>, or /deep_link.htm whose dl_target_url Parse accepts as a page that is not a share link), although
// s.click is a redirector: those lead to the page they were generated for. Everything else must be on an accepted
// host (not a., click. or star.aliexpress.com), printable ASCII, without fragment, with a path appendPath accepts
// and no query value that looks like a URL. CheckDestination is safe for concurrent use.
func CheckDestination(rawURL string) error {
	if rawURL != "" && (rawURL[0] == ' ' || rawURL[len(rawURL)-1] == ' ') {
		return errMalformed
	}
	p, err := split(rawURL)
	if err != nil {
		return err
	}
	for i := 0; i < len(rawURL); i++ {
		if c := rawURL[i]; c >= 0x80 || c == '#' || c == '"' || c == '<' || c == '>' || c == '`' || c == '{' ||
			c == '}' || c == '|' || c == '^' {
			return errMalformed
		}
	}
	if !appendPath(nil, p.path) {
		return errMalformed
	}
	deepLink := false
	switch p.sub {
	case subA, subClick, subStar:
		return errRedirector
	case subSClick:
		code, ok := strings.CutPrefix(p.path, "/e/")
		switch {
		case ok && isShareCode(code):
		case p.path == "/deep_link.htm":
			deepLink = true
		default:
			return errRedirector
		}
	}
	query := p.query
	for query != "" {
		var pair string
		pair, query, _ = strings.Cut(query, "&")
		key, raw, _ := strings.Cut(pair, "=")
		v, err := url.QueryUnescape(raw)
		if err != nil {
			return errMalformed
		}
		if deepLink && key == "dl_target_url" {
			t, err := Parse(v)
			if err != nil || t.Kind == Share {
				return errCarriesURL
			}
			continue
		}
		if looksLikeURL(v) {
			return errCarriesURL
		}
	}
	return nil
}
