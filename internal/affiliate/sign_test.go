package affiliate_test

import (
	"net/url"
	"testing"

	"github.com/redirector/redirector/internal/affiliate"
)

const testSecret = "test_secret_0123456789abcdef"

func knownParams() url.Values {
	return url.Values{
		"app_key":             {"12345678"},
		"method":              {"aliexpress.affiliate.link.generate"},
		"timestamp":           {"1700000000000"},
		"v":                   {"2.0"},
		"tracking_id":         {"blog_tracking"},
		"promotion_link_type": {"0"},
		"source_values":       {"https://www.aliexpress.com/item/1005001234567890.html"},
		"sign_method":         {"sha256"},
	}
}

func TestSign(t *testing.T) {
	const known = "A6DD086BA43E78BEA1F1D4498608546937BB5D1E12C8D6AD7A4452F98762A6DB"
	withSign := knownParams()
	withSign.Set("sign", "ANYTHING")
	changed := knownParams()
	changed.Set("timestamp", "1700000000001")
	tests := []struct {
		name   string
		secret string
		params url.Values
		want   string
		same   bool // want == result, else want != result
	}{
		{"known answer", testSecret, knownParams(), known, true},
		{"sign parameter ignored", testSecret, withSign, known, true},
		{"other timestamp", testSecret, changed, known, false},
		{"other secret", "another_secret", knownParams(), known, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := affiliate.Sign(tc.secret, tc.params)
			if (got == tc.want) != tc.same {
				t.Errorf("Sign(%q, %v) = %s, want equal to %s: %v", tc.secret, tc.params, got, tc.want, tc.same)
			}
		})
	}
}

func BenchmarkSign(b *testing.B) {
	p := knownParams()
	b.ReportAllocs()
	for b.Loop() {
		affiliate.Sign(testSecret, p)
	}
}
