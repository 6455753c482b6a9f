package webhook

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
)

// maxURL bounds a webhook URL's length.
const maxURL = 2048

// nonPublic are the ranges, beyond what netip.Addr's predicates name, that are not the public
// internet: a webhook may not point there (RFC 6890 and the IANA special-purpose registries).
var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),       // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),   // carrier-grade NAT
	netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments
	netip.MustParsePrefix("192.0.2.0/24"),    // documentation
	netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking
	netip.MustParsePrefix("198.51.100.0/24"), // documentation
	netip.MustParsePrefix("203.0.113.0/24"),  // documentation
	netip.MustParsePrefix("240.0.0.0/4"),     // reserved, and the broadcast address
	netip.MustParsePrefix("64:ff9b::/96"),    // NAT64: may reach any IPv4 address, private ones included
	netip.MustParsePrefix("64:ff9b:1::/48"),  // local-use NAT64
	netip.MustParsePrefix("100::/64"),        // discard-only
	netip.MustParsePrefix("2001::/23"),       // IETF protocol assignments (Teredo, ORCHID, ...)
	netip.MustParsePrefix("2001:db8::/32"),   // documentation
	netip.MustParsePrefix("2002::/16"),       // 6to4: embeds any IPv4 address
	netip.MustParsePrefix("5f00::/16"),       // SRv6 SIDs
}

// Public reports whether a is an address of the public internet: not loopback, private (RFC 1918,
// unique-local), link-local, multicast, unspecified or any other special-purpose range. An IPv4-mapped
// IPv6 address is judged as its IPv4 address.
func Public(a netip.Addr) bool {
	a = a.Unmap()
	if !a.IsValid() || a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() ||
		a.IsInterfaceLocalMulticast() || a.IsMulticast() || a.IsUnspecified() || a.Zone() != "" {
		return false
	}
	for _, p := range nonPublic {
		if p.Contains(a) {
			return false
		}
	}
	return true
}

// errPrivate is the reason a delivery's connection was refused.
var errPrivate = errors.New("the webhook's host resolves to a non-public address")

// checkURL checks a webhook URL given to Register: absolute https (or http when allowPrivate), a host,
// no user info or fragment, at most maxURL bytes. It returns the URL as it will be used.
func checkURL(raw string, allowPrivate bool) (*url.URL, error) {
	if raw == "" {
		return nil, invalid("url is required")
	}
	if len(raw) > maxURL {
		return nil, invalid("url is longer than %d bytes", maxURL)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, invalid("url: %v", err)
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && allowPrivate:
	default:
		return nil, invalid("url must be https")
	}
	if u.Host == "" || u.Hostname() == "" {
		return nil, invalid("url has no host")
	}
	if u.User != nil {
		return nil, invalid("url must not carry a user name or password")
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return nil, invalid("url must not have a fragment")
	}
	return u, nil
}

// resolvePublic resolves host (a name or an address literal) and returns an error unless every
// address it has is public: a name that resolves to one private address among public ones could be
// made to reach it.
func resolvePublic(ctx context.Context, r *net.Resolver, host string) error {
	if a, err := netip.ParseAddr(host); err == nil {
		if !Public(a) {
			return invalid("url: %s is not a public address", host)
		}
		return nil
	}
	addrs, err := r.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return invalid("url: host %s does not resolve", host) // the resolver's words name our own network
	}
	if len(addrs) == 0 {
		return invalid("url: host %s has no address", host)
	}
	for _, a := range addrs {
		if !Public(a) {
			return invalid("url: host %s resolves to %s, which is not a public address", host, a.Unmap())
		}
	}
	return nil
}

// dialControl is a net.Dialer's Control that refuses to connect to a non-public address. It sees the
// address actually dialled, after resolution, so a name that resolved to a public address at
// registration and resolves to a private one now (DNS rebinding) is refused.
func dialControl(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: %s", errPrivate, address)
	}
	if !Public(ap.Addr()) {
		return fmt.Errorf("%w: %s", errPrivate, ap.Addr().Unmap())
	}
	return nil
}
