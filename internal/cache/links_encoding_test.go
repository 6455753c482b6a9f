package cache

import (
	"testing"
	"time"
)

func TestLinkEncodingRoundTrip(t *testing.T) {
	t.Parallel()
	at := time.UnixMilli(1_772_366_400_123)
	tests := []struct {
		name string
		link Link
	}{
		{"promoted", Link{URL: "https://s.click.aliexpress.com/e/_DdXyZ12", Status: Promoted, FreshUntil: at, StaleUntil: at.Add(30 * 24 * time.Hour)}},
		{"promoted, retrying", Link{URL: "https://s.click.aliexpress.com/e/_a", Status: Promoted, FreshUntil: at, StaleUntil: at.Add(time.Hour), RetryAt: at.Add(time.Minute)}},
		{"url with bars", Link{URL: "https://a.example/?q=a|b||c", Status: Promoted, FreshUntil: at, StaleUntil: at}},
		{"not promotable", Link{Status: NotPromotable, FreshUntil: at, StaleUntil: at}},
		{"failed", Link{Status: Failed, FreshUntil: at, StaleUntil: at}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := encodeLink(tc.link)
			got, err := decodeLink(v)
			if err != nil || !got.FreshUntil.Equal(tc.link.FreshUntil) || !got.StaleUntil.Equal(tc.link.StaleUntil) ||
				!got.RetryAt.Equal(tc.link.RetryAt) || got.URL != tc.link.URL || got.Status != tc.link.Status {
				t.Errorf("decodeLink(%q) = %+v, %v, want %+v", v, got, err, tc.link)
			}
			if len(v) > len(tc.link.URL)+45 {
				t.Errorf("encodeLink(%+v) = %q: %d bytes beyond the URL, want at most 45", tc.link, v, len(v)-len(tc.link.URL))
			}
		})
	}
}

func TestDecodeLinkRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, v string
	}{
		{"empty", ""},
		{"json", `{"url":"https://a.example/","status":1}`},
		{"too few fields", "1|2|3|https://a.example/"},
		{"unknown status", "9|1|2|0|https://a.example/"},
		{"zero status", "0|1|2|0|"},
		{"negative time", "1|-1|2|0|https://a.example/"},
		{"time not a number", "1|x|2|0|https://a.example/"},
		{"promoted without url", "1|1|2|0|"},
		{"negative with url", "2|1|2|0|https://a.example/"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got, err := decodeLink(tc.v); err == nil {
				t.Errorf("decodeLink(%q) = %+v, nil, want an error", tc.v, got)
			}
		})
	}
}

func FuzzDecodeLink(f *testing.F) {
	f.Add("1|1772366400123|1774958400123|0|https://s.click.aliexpress.com/e/_a")
	f.Add("2|1|1|0|")
	f.Add("1|1|2|3|a|b")
	f.Fuzz(func(t *testing.T, v string) {
		link, err := decodeLink(v)
		if err != nil {
			return
		}
		again, err := decodeLink(encodeLink(link))
		if err != nil || again != link {
			t.Errorf("decodeLink(encodeLink(%+v)) = %+v, %v, want it back", link, again, err)
		}
	})
}
