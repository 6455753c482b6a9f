package aliurl

import "strings"

// zone is the AliExpress registrable domain a host belongs to.
type zone uint8

const (
	zoneNone zone = iota
	zoneCom
	zoneUS
	zoneRU
)

// subdomain singles out the hosts whose pages are redirects rather than destinations.
type subdomain uint8

const (
	subPlain  subdomain = iota // any host that serves pages
	subA                       // a.aliexpress.*: app share links
	subSClick                  // s.click.aliexpress.*: affiliate and share short links
	subClick                   // click.aliexpress.*: older affiliate short links
	subStar                    // star.aliexpress.*: share wrapper pages carrying redirectUrl
)

// IsAliExpressHost reports whether host (without port) is aliexpress.com, aliexpress.us, aliexpress.ru or a
// subdomain of one, compared label by label in ASCII without regard to case, allowing one trailing dot. Labels are
// letters, digits and inner hyphens only: IP literals, percent-encoded, non-ASCII and punycode (xn--) hosts are
// refused. It does not allocate.
func IsAliExpressHost(host string) bool {
	_, z, _ := checkHost(host)
	return z != zoneNone
}

// checkHost validates host and returns it without its trailing dot, with its zone (zoneNone when refused) and
// whether it is one of AliExpress's redirector hosts.
func checkHost(host string) (string, zone, subdomain) {
	h := strings.TrimSuffix(host, ".")
	if h == "" || len(h) > 253 {
		return "", zoneNone, subPlain
	}
	start := 0
	for i := 0; i <= len(h); i++ {
		if i == len(h) || h[i] == '.' {
			if !validLabel(h[start:i]) {
				return "", zoneNone, subPlain
			}
			start = i + 1
		}
	}
	var z zone
	var rest string // the labels before the registrable domain, with their trailing dot
	switch {
	case hasDomainFold(h, "aliexpress.com"):
		z, rest = zoneCom, h[:len(h)-len("aliexpress.com")]
	case hasDomainFold(h, "aliexpress.us"):
		z, rest = zoneUS, h[:len(h)-len("aliexpress.us")]
	case hasDomainFold(h, "aliexpress.ru"):
		z, rest = zoneRU, h[:len(h)-len("aliexpress.ru")]
	default:
		return "", zoneNone, subPlain
	}
	sub := subPlain
	switch {
	case strings.EqualFold(rest, "a."):
		sub = subA
	case strings.EqualFold(rest, "s.click."):
		sub = subSClick
	case strings.EqualFold(rest, "click."):
		sub = subClick
	case strings.EqualFold(rest, "star."):
		sub = subStar
	}
	return h, z, sub
}

// hasDomainFold reports whether h is domain or ends in "."+domain, ignoring ASCII case.
func hasDomainFold(h, domain string) bool {
	if len(h) < len(domain) || !strings.EqualFold(h[len(h)-len(domain):], domain) {
		return false
	}
	return len(h) == len(domain) || h[len(h)-len(domain)-1] == '.'
}

// validLabel reports whether l is an LDH label (RFC 5890): 1 to 63 ASCII letters, digits and hyphens, not starting
// or ending with a hyphen, and without hyphens in its third and fourth places, which mark IDNA (xn--) and other
// reserved encodings.
func validLabel(l string) bool {
	if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
		return false
	}
	if len(l) >= 4 && l[2] == '-' && l[3] == '-' {
		return false
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// appendLower writes s to b in ASCII lower case.
func appendLower(b *strings.Builder, s string) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		b.WriteByte(c)
	}
}
