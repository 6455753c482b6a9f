// Package stats describes a human visit for the analytics creators read: who (a keyed hash that
// changes every day), from where (country, referrer), on what (device, OS, browser) and through what
// (link, QR code, bio page). It does no I/O: the click counter calls it off the redirect path, and the
// store keeps what it returns, never an address or a User-Agent.
package stats

import (
	"cmp"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"net/netip"
	"slices"
	"strings"
	"sync"

	"github.com/maypok86/otter/v2"
	"github.com/medama-io/go-useragent"
	"github.com/medama-io/go-useragent/agents"
	"github.com/phuslu/iploc"
)

// Source is how a visitor came to a link.
type Source uint8

// The sources of a visit.
const (
	SourceLink Source = iota // the short URL itself
	SourceQR                 // its QR code (the URL carries ?qr)
	SourceBio                // a creator's bio page (the URL carries ?src=bio)
)

// String is the source's name in the API: "link", "qr" or "bio".
func (s Source) String() string {
	switch s {
	case SourceQR:
		return "qr"
	case SourceBio:
		return "bio"
	}
	return "link"
}

// Dimension indexes, in the order of Values and of Dimensions.
const (
	DimCountry = iota
	DimReferrer
	DimDevice
	DimOS
	DimBrowser
	DimSource
	NumDims
)

// Dimensions are the dimensions' names, as the API and the store write them.
var Dimensions = [NumDims]string{"country", "referrer", "device", "os", "browser", "source"}

// Values a dimension takes besides what a visit names.
const (
	// Other stands for every value past the top ones a link keeps per day.
	Other = "other"
	// Direct is the referrer of a visit without a Referer.
	Direct = "direct"
	// Unknown is a value the visit did not tell: a country the database does not know, a User-Agent the
	// parser does not know.
	Unknown = "unknown"
)

// Values are a visit's value in each dimension, indexed by the Dim constants.
type Values [NumDims]string

// Hit is a visit as the redirect saw it. It lives in memory until the click counter's next write and is
// never stored.
type Hit struct {
	Addr      netip.Addr // the client (an IPv6 one cut to its prefix, as for its budgets)
	UserAgent string     // a person's browser's (bots are not counted)
	Referrer  string     // RefererHost of the Referer header: "" when there was none
	Source    Source
}

// Visit is what the store keeps of one counted visit: no address, no User-Agent.
type Visit struct {
	ID      string // short-link id
	Day     string // UTC day, "20060102"
	Visitor string // the day's keyed hash of the visitor (see Hasher): 16 hex digits
	Values  Values
	// Clicks is how many clicks of the visitor the visit stands for (at least 1): the store counts one
	// within its dedup window, and all of them without one.
	Clicks int64
}

// Scan reports whether the visit came through the link's QR code.
func (v Visit) Scan() bool { return v.Values[DimSource] == "qr" }

// Bio reports whether the visit came from a bio page's item.
func (v Visit) Bio() bool { return v.Values[DimSource] == "bio" }

// maxReferer is the longest Referer whose host RefererHost returns as a part of it; of a longer one the
// host is copied, so that a buffered visit never keeps a long header alive.
const maxReferer = 256

// RefererHost returns the host of a Referer header value as written (port and user info left on, not
// lower-cased: Describe cleans it), "" when referer is empty, and "?" when it names no host. It allocates
// only for a Referer longer than 256 bytes. It is what the redirect keeps of the Referer.
func RefererHost(referer string) string {
	if referer == "" {
		return ""
	}
	i := strings.Index(referer, "://")
	if i <= 0 {
		return "?"
	}
	host := referer[i+3:]
	if j := strings.IndexAny(host, "/?#"); j >= 0 {
		host = host[:j]
	}
	if host == "" {
		return "?"
	}
	if len(referer) > maxReferer {
		if len(host) > maxHost {
			return "?"
		}
		return strings.Clone(host)
	}
	return host
}

// maxHost is the longest host name DNS allows.
const maxHost = 253

// referrer cleans a RefererHost: lower case, without user info, port, trailing dot or a leading
// "www."; Direct for "", Other for anything that is not a host name.
func referrer(host string) string {
	if host == "" {
		return Direct
	}
	if i := strings.LastIndexByte(host, '@'); i >= 0 {
		host = host[i+1:]
	}
	if i := strings.LastIndexByte(host, ':'); i >= 0 {
		host = host[:i]
	}
	host = strings.TrimSuffix(host, ".")
	if host == "" || len(host) > maxHost {
		return Other
	}
	for i := range len(host) {
		c := host[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '-' || c == '_') {
			return Other
		}
	}
	host = strings.ToLower(host)
	if h, ok := strings.CutPrefix(host, "www."); ok && h != "" {
		host = h
	}
	if host == Direct || host == Other || host == Unknown {
		return Other // a host that would read as one of the values the service gives
	}
	return host
}

// Country returns the ISO 3166-1 alpha-2 code of the country of addr in the embedded database
// (github.com/phuslu/iploc), or Unknown. It does not allocate.
func Country(addr netip.Addr) string {
	if !addr.IsValid() || addr.IsPrivate() || addr.IsLoopback() || addr.IsLinkLocalUnicast() || addr.IsUnspecified() {
		return Unknown
	}
	c := iploc.IPCountry(addr.Unmap())
	if len(c) != 2 || c[0] < 'A' || c[0] > 'Z' || c[1] < 'A' || c[1] > 'Z' || c == "ZZ" {
		return Unknown
	}
	return c
}

// maxUA is the longest User-Agent parsed; a person's browser sends 100 to 300 bytes, and the bot check
// refuses longer than 512.
const maxUA = 512

// agentCacheSize bounds the cache of parsed User-Agents: distinct agents in real traffic number in the
// thousands.
const agentCacheSize = 10_000

// agent is what a User-Agent says.
type agent struct{ device, os, browser string }

// agents caches the parse of each User-Agent (a parse costs about a microsecond); otter's cache is safe
// for concurrent use and bounded by agentCacheSize.
var agentCache = sync.OnceValue(func() *otter.Cache[string, agent] {
	return otter.Must(&otter.Options[string, agent]{MaximumSize: agentCacheSize})
})

// parser is the User-Agent parser (github.com/medama-io/go-useragent), built on first use.
var parser = sync.OnceValue(useragent.NewParser)

// Warm builds the User-Agent parser now (about 0.1 s of CPU and 7 MB, once per process) rather than at
// the first Describe, so that a service pays it at start, not amid its first clicks. The IPv6 part of
// the country database is still loaded at the first IPv6 address (about 11 MB).
func Warm() {
	parser()
	agentCache()
}

// Agent returns the device class ("mobile", "tablet", "desktop", "tv" or Unknown), the operating system
// and the browser family a User-Agent names, Unknown for what it does not name. Its cost is bounded: a
// User-Agent longer than 512 bytes is not parsed, and parses are cached.
func Agent(userAgent string) (device, os, browser string) {
	if userAgent == "" || len(userAgent) > maxUA {
		return Unknown, Unknown, Unknown
	}
	c := agentCache()
	if a, ok := c.GetIfPresent(userAgent); ok {
		return a.device, a.os, a.browser
	}
	ua := parser().Parse(userAgent)
	a := agent{device: deviceClass(ua.Device()), os: orUnknown(string(ua.OS())), browser: orUnknown(string(ua.Browser()))}
	c.Set(strings.Clone(userAgent), a)
	return a.device, a.os, a.browser
}

func deviceClass(d agents.Device) string {
	switch d {
	case agents.DeviceMobile:
		return "mobile"
	case agents.DeviceTablet:
		return "tablet"
	case agents.DeviceDesktop:
		return "desktop"
	case agents.DeviceTV:
		return "tv"
	}
	return Unknown
}

func orUnknown(s string) string {
	if s == "" {
		return Unknown
	}
	return s
}

// Describe returns the hit's value in each dimension. It is safe for concurrent use.
func Describe(h Hit) Values {
	var v Values
	v[DimCountry] = Country(h.Addr)
	v[DimReferrer] = referrer(h.Referrer)
	v[DimDevice], v[DimOS], v[DimBrowser] = Agent(h.UserAgent)
	v[DimSource] = h.Source.String()
	return v
}

// Hasher names visitors under one day's secret: the same client address and User-Agent give the same
// visitor all day, on every replica that shares the secret, and nothing else can be learnt from it
// without the secret, which the store forgets after two days. It is not safe for concurrent use.
type Hasher struct {
	mac hash.Hash
	buf []byte
	sum []byte
}

// NewHasher returns a Hasher keyed with secret.
func NewHasher(secret []byte) *Hasher {
	return &Hasher{mac: hmac.New(sha256.New, secret), buf: make([]byte, 0, 16+1+maxUA), sum: make([]byte, 0, sha256.Size)}
}

// Visitor returns the visitor of a client address and User-Agent: the first 8 bytes of
// HMAC-SHA256(secret, address bytes, 0, User-Agent), in hex.
func (h *Hasher) Visitor(addr netip.Addr, userAgent string) string {
	h.buf = h.buf[:0]
	if addr = addr.Unmap(); addr.Is4() {
		a := addr.As4()
		h.buf = append(h.buf, a[:]...)
	} else {
		a := addr.As16()
		h.buf = append(h.buf, a[:]...)
	}
	h.buf = append(append(h.buf, 0), userAgent...)
	h.mac.Reset()
	h.mac.Write(h.buf)
	h.sum = h.mac.Sum(h.sum[:0])
	return hex.EncodeToString(h.sum[:8])
}

// Count is one value of a dimension and the clicks it had.
type Count struct {
	Value  string
	Clicks int64
}

// Report is what was counted over a span of days, for one link or for all.
type Report struct {
	Clicks   int64 // visits counted (once per visitor per link per window), scans included
	Scans    int64 // the part of Clicks that came through a QR code
	Visitors int64 // the sum of each day's distinct visitors (a visitor's name changes every day)
	Dims     [NumDims][]Count
}

// Top returns the values of m, most clicks first (then by value), the first n of them and Other holding
// the sum of the rest (and of m's own Other); n <= 0 keeps them all.
func Top(m map[string]int64, n int) []Count {
	out := make([]Count, 0, len(m))
	var other int64
	for v, c := range m {
		if v == Other {
			other += c
			continue
		}
		out = append(out, Count{Value: v, Clicks: c})
	}
	slices.SortFunc(out, func(a, b Count) int {
		if c := cmp.Compare(b.Clicks, a.Clicks); c != 0 {
			return c
		}
		return cmp.Compare(a.Value, b.Value)
	})
	if n > 0 && len(out) > n {
		for _, c := range out[n:] {
			other += c.Clicks
		}
		out = out[:n]
	}
	if other > 0 {
		out = append(out, Count{Value: Other, Clicks: other})
	}
	return out
}
