package stats

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

func TestRefererHostAndReferrer(t *testing.T) {
	t.Parallel()
	long := "https://l.facebook.com/l.php?u=" + strings.Repeat("x", 400)
	for _, tc := range []struct{ name, referer, host, want string }{
		{"absent", "", "", Direct},
		{"origin only", "https://www.google.com/", "www.google.com", "google.com"},
		{"path and query", "https://t.co/abc?x=1", "t.co", "t.co"},
		{"upper case and port", "HTTPS://Blog.Example.COM:8443/post", "Blog.Example.COM:8443", "blog.example.com"},
		{"user info", "https://user:pw@news.example.org/", "user:pw@news.example.org", "news.example.org"},
		{"trailing dot", "https://example.net./", "example.net.", "example.net"},
		{"android app", "android-app://com.google.android.gm/", "com.google.android.gm", "com.google.android.gm"},
		{"long referer", long, "l.facebook.com", "l.facebook.com"},
		{"no scheme", "example.com/page", "?", Other},
		{"no host", "https:///path", "?", Other},
		{"ipv6 literal", "http://[2001:db8::1]/", "[2001:db8::1]", Other},
		{"odd bytes", "https://ex<ample>.com/", "ex<ample>.com", Other},
		{"a reserved word", "https://direct/", "direct", Other},
		{"www alone", "https://www./", "www.", "www"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			host := RefererHost(tc.referer)
			if host != tc.host {
				t.Errorf("RefererHost(%q) = %q, want %q", tc.referer, host, tc.host)
			}
			if got := referrer(host); got != tc.want {
				t.Errorf("referrer(%q) = %q, want %q", host, got, tc.want)
			}
		})
	}
}

// TestRefererHostAllocations: the redirect calls RefererHost on every click.
func TestRefererHostAllocations(t *testing.T) {
	ref := "https://www.instagram.com/p/C8abcdef/"
	if n := testing.AllocsPerRun(100, func() { _ = RefererHost(ref) }); n != 0 {
		t.Errorf("RefererHost(%q) allocates %v times, want 0", ref, n)
	}
}

// TestCountry checks addresses whose country is a plain fact, not the database's opinion: RIPE NCC's web
// server in Amsterdam (193.0.6.139, and its IPv6 network 2001:67c:2e8::/48), the University of Tokyo
// (133.11.0.0/16), Telstra's name server in Australia (139.130.4.5), Deutsche Telekom's resolver
// (194.25.2.129), NIC.br (200.160.2.3); private, documentation and loopback ranges have none.
func TestCountry(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ addr, want string }{
		{"193.0.6.139", "NL"}, {"2001:67c:2e8::", "NL"}, {"133.11.0.1", "JP"}, {"139.130.4.5", "AU"},
		{"194.25.2.129", "DE"}, {"200.160.2.3", "BR"}, {"::ffff:193.0.6.139", "NL"},
		{"10.1.2.3", Unknown}, {"192.168.1.1", Unknown}, {"127.0.0.1", Unknown}, {"::1", Unknown},
		{"192.0.2.1", Unknown}, {"2001:db8::1", Unknown},
	} {
		if got := Country(netip.MustParseAddr(tc.addr)); got != tc.want {
			t.Errorf("Country(%s) = %q, want %q", tc.addr, got, tc.want)
		}
	}
	if got := Country(netip.Addr{}); got != Unknown {
		t.Errorf("Country(invalid) = %q, want %q", got, Unknown)
	}
}

func TestAgent(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, ua, device, os, browser string }{
		{"iPhone Safari", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1", "mobile", "iOS", "Safari"},
		{"iPad Safari", "Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1", "tablet", "iOS", "Safari"},
		{"Windows Chrome", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36", "desktop", "Windows", "Chrome"},
		{"Android Chrome", "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.6478.122 Mobile Safari/537.36", "mobile", "Android", "Chrome"},
		{"Mac Firefox", "Mozilla/5.0 (Macintosh; Intel Mac OS X 14.5; rv:127.0) Gecko/20100101 Firefox/127.0", "desktop", "MacOS", "Firefox"},
		{"empty", "", Unknown, Unknown, Unknown},
		{"overlong", "Mozilla/5.0 (Windows NT 10.0) Chrome/126.0 " + strings.Repeat("a", 600), Unknown, Unknown, Unknown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for range 2 { // parsed, then cached
				d, o, b := Agent(tc.ua)
				if d != tc.device || o != tc.os || b != tc.browser {
					t.Errorf("Agent(%.60q) = %q, %q, %q; want %q, %q, %q", tc.ua, d, o, b, tc.device, tc.os, tc.browser)
				}
			}
		})
	}
}

func TestDescribe(t *testing.T) {
	t.Parallel()
	h := Hit{Addr: netip.MustParseAddr("133.11.0.1"), UserAgent: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
		Referrer: RefererHost("https://www.youtube.com/watch?v=1"), Source: SourceQR}
	want := Values{"JP", "youtube.com", "desktop", "Windows", "Chrome", "qr"}
	if got := Describe(h); got != want {
		t.Errorf("Describe(%+v) = %q, want %q", h, got, want)
	}
	for s, name := range map[Source]string{SourceLink: "link", SourceQR: "qr", SourceBio: "bio"} {
		if s.String() != name {
			t.Errorf("Source(%d).String() = %q, want %q", s, s.String(), name)
		}
	}
}

// TestVisitor: one visitor per address and User-Agent under one secret; another secret (another day)
// names everyone anew.
func TestVisitor(t *testing.T) {
	t.Parallel()
	a, b := netip.MustParseAddr("193.0.6.139"), netip.MustParseAddr("2001:67c:2e8::")
	ua1, ua2 := "Mozilla/5.0 A", "Mozilla/5.0 B"
	h := NewHasher([]byte("secret of day 1"))
	v := h.Visitor(a, ua1)
	if len(v) != 16 || strings.Trim(v, "0123456789abcdef") != "" {
		t.Fatalf("Visitor = %q, want 16 hex digits", v)
	}
	if again := NewHasher([]byte("secret of day 1")).Visitor(a, ua1); again != v {
		t.Errorf("the same visitor under the same secret: %q then %q", v, again)
	}
	if m := h.Visitor(netip.MustParseAddr("::ffff:193.0.6.139"), ua1); m != v {
		t.Errorf("IPv4-mapped address named %q, want %q (the same client)", m, v)
	}
	others := []string{h.Visitor(a, ua2), h.Visitor(b, ua1), NewHasher([]byte("secret of day 2")).Visitor(a, ua1)}
	for i, o := range others {
		if o == v {
			t.Errorf("case %d: %q is the same visitor as %q", i, o, v)
		}
	}
}

func TestTop(t *testing.T) {
	t.Parallel()
	m := map[string]int64{"a": 5, "b": 7, "c": 5, "d": 1, Other: 2}
	for _, tc := range []struct {
		n    int
		want []Count
	}{
		{0, []Count{{"b", 7}, {"a", 5}, {"c", 5}, {"d", 1}, {Other, 2}}},
		{2, []Count{{"b", 7}, {"a", 5}, {Other, 8}}},
		{10, []Count{{"b", 7}, {"a", 5}, {"c", 5}, {"d", 1}, {Other, 2}}},
	} {
		if got := Top(m, tc.n); !slices.Equal(got, tc.want) {
			t.Errorf("Top(%v, %d) = %v, want %v", m, tc.n, got, tc.want)
		}
	}
	if got := Top(nil, 3); len(got) != 0 {
		t.Errorf("Top(nil) = %v, want none", got)
	}
}

func BenchmarkDescribe(b *testing.B) {
	hits := make([]Hit, 64)
	for i := range hits {
		hits[i] = Hit{Addr: netip.AddrFrom4([4]byte{193, 0, 6, byte(i)}), UserAgent: fmt.Sprintf("Mozilla/5.0 (Windows NT 10.0) Chrome/%d.0", i%8), Referrer: "www.google.com"}
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		_ = Describe(hits[i%len(hits)])
		i++
	}
}

// FuzzReferrer: whatever a client sends as Referer, the value kept is Direct, Other or a host name of at
// most 253 bytes of [a-z0-9._-], and RefererHost never keeps more of a long header than its host.
func FuzzReferrer(f *testing.F) {
	for _, s := range []string{"", "https://www.google.com/", "android-app://com.x/", "http://[::1]:80/", "https://a@b:c@d.e:1/", "x://", "https://ÄÖ.de/", strings.Repeat("a", 300) + "://x.y/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, referer string) {
		host := RefererHost(referer)
		if host != "?" && !strings.Contains(referer, host) {
			t.Fatalf("RefererHost(%q) = %q, not a part of it", referer, host)
		}
		v := referrer(host)
		if v == Direct && referer != "" {
			t.Fatalf("referrer of %q = %q, want a host or %q", referer, v, Other)
		}
		if v == Direct || v == Other {
			return
		}
		if len(v) > maxHost || v != strings.ToLower(v) || strings.Trim(v, "abcdefghijklmnopqrstuvwxyz0123456789._-") != "" {
			t.Fatalf("referrer of %q = %q, not a clean host name", referer, v)
		}
	})
}
