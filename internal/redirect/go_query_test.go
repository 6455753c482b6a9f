package redirect

import (
	"fmt"
	"net/url"
	"testing"
)

// goQueryTests are /go queries in the forms people write them: u percent-encoded, or pasted as it is.
var goQueryTests = []struct {
	name, query string
	want        string // the canonical page, whose affiliate link /go must answer
}{
	{
		name:  "literal plus in search text",
		query: "u=https://www.aliexpress.com/w/wholesale-red-lamp.html?SearchText=red+lamp",
		want:  "https://www.aliexpress.com/w/wholesale-red-lamp.html?SearchText=red+lamp",
	},
	{
		name:  "literal ampersands belong to u",
		query: "u=https://www.aliexpress.com/w/x.html?SearchText=a&page=2",
		want:  "https://www.aliexpress.com/w/x.html?SearchText=a&page=2",
	},
	{
		name:  "literal after another parameter",
		query: "x=1&u=https://www.aliexpress.com/w/x.html?SearchText=a+b&page=2",
		want:  "https://www.aliexpress.com/w/x.html?SearchText=a+b&page=2",
	},
	{
		name:  "literal product with tracking and sku",
		query: fmt.Sprintf("u=https://m.aliexpress.com/item/%d.html?spm=a2g0o.home&sku_id=12000012345678901&gatewayAdapt=glo2usa", productID(40)),
		want:  product(40) + "?sku_id=12000012345678901",
	},
	{
		name:  "literal keeps its own escapes",
		query: "u=https://www.aliexpress.com/w/wholesale-%E6%89%8B%E6%9C%BA.html?SearchText=red%20lamp",
		want:  "https://www.aliexpress.com/w/wholesale-%E6%89%8B%E6%9C%BA.html?SearchText=red+lamp",
	},
	{
		name:  "literal upper-case scheme",
		query: fmt.Sprintf("u=HTTPS://WWW.AliExpress.com/item/%d.html", productID(41)),
		want:  product(41),
	},
	{
		name:  "encoded plus is a plus",
		query: "u=" + url.QueryEscape("https://www.aliexpress.com/w/wholesale-red-lamp.html?SearchText=red+lamp"),
		want:  "https://www.aliexpress.com/w/wholesale-red-lamp.html?SearchText=red+lamp",
	},
	{
		name:  "encoded ampersands, then other parameters",
		query: "u=" + url.QueryEscape("https://www.aliexpress.com/w/x.html?SearchText=a&page=2") + "&x=1",
		want:  "https://www.aliexpress.com/w/x.html?SearchText=a&page=2",
	},
	{
		name:  "encoded plus as space",
		query: "u=https%3A%2F%2Fwww.aliexpress.com%2Fw%2Fx.html%3FSearchText%3Dred%2Blamp+",
		want:  "https://www.aliexpress.com/w/x.html?SearchText=red+lamp",
	},
	{
		name:  "half encoded: scheme encoded, slashes not",
		query: fmt.Sprintf("u=https%%3A//www.aliexpress.com/item/%d.html", productID(42)),
		want:  product(42),
	},
}

func TestGoQueryForms(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	for _, tc := range goQueryTests {
		t.Run(tc.name, func(t *testing.T) {
			checkRedirect(t, "GET /go?"+tc.query, e.get("/go?"+tc.query), e.platform.Link(tc.want))
		})
	}
}

func TestQueryU(t *testing.T) {
	tests := []struct {
		name, query, value, reason string
	}{
		{"literal to the end", "u=https://a.example/?x=1&y=2", "https://a.example/?x=1&y=2", ""},
		{"literal after others", "c=blog&u=https://a.example/?x=1&u=2", "https://a.example/?x=1&u=2", ""},
		{"literal plus kept", "u=https://a.example/?q=a+b", "https://a.example/?q=a+b", ""},
		{"encoded decoded", "u=https%3A%2F%2Fa.example%2F%3Fq%3Da%2Bb", "https://a.example/?q=a+b", ""},
		{"encoded plus is space", "u=a+b", "a b", ""},
		{"encoded ends at ampersand", "u=https%3A%2F%2Fa.example%2F&x=1", "https://a.example/", ""},
		{"no scheme before ://", "u=://x&y", "://x", ""},
		{"scheme with digits is not literal", "u=h2tp://x+y", "h2tp://x y", ""},
		{"empty", "u=", "", ""},
		{"missing", "x=1", "", "missing u: pass the AliExpress URL as /go?u=<url>"},
		{"two encoded", "u=a&u=b", "", "more than one u parameter"},
		{"encoded then literal", "u=a&u=https://x", "", "more than one u parameter"},
		{"bad escape", "u=%zz", "", "malformed URL encoding in u"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			value, reason := queryU(tc.query)
			if value != tc.value || reason != tc.reason {
				t.Errorf("queryU(%q) = %q, %q; want %q, %q", tc.query, value, reason, tc.value, tc.reason)
			}
		})
	}
}
