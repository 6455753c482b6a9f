package affiliatetest

import (
	"net/url"
	"testing"
)

func TestSignKnownAnswer(t *testing.T) {
	params := url.Values{
		"app_key":             {"12345678"},
		"method":              {"aliexpress.affiliate.link.generate"},
		"timestamp":           {"1700000000000"},
		"v":                   {"2.0"},
		"tracking_id":         {"blog_tracking"},
		"promotion_link_type": {"0"},
		"source_values":       {"https://www.aliexpress.com/item/1005001234567890.html"},
		"sign_method":         {"sha256"},
		"sign":                {"ignored"},
	}
	const want = "A6DD086BA43E78BEA1F1D4498608546937BB5D1E12C8D6AD7A4452F98762A6DB"
	if got := sign("test_secret_0123456789abcdef", params); got != want {
		t.Errorf("sign(known params) = %s, want %s", got, want)
	}
}
