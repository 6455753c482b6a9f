package health

import (
	"testing"

	"github.com/redirector/redirector/internal/link"
)

func TestDivert(t *testing.T) {
	const target, fallback = "https://www.aliexpress.com/item/1005001.html", "https://www.aliexpress.com/item/1005002.html"
	store := "https://www.aliexpress.com/store/77"
	lamp := link.Product{Title: "Solar garden lamp, 2-pack!", Store: store}
	for _, tc := range []struct {
		name     string
		fallback string
		when     string
		h        link.Health
		want     string
	}{
		{name: "ok", fallback: fallback, h: link.Health{State: link.HealthOK, Product: lamp}, want: ""},
		{name: "unknown", fallback: fallback, h: link.Health{State: link.HealthUnknown}, want: ""},
		{name: "page", fallback: fallback, h: link.Health{State: link.HealthPage}, want: ""},
		{name: "gone with plan B", fallback: fallback, h: link.Health{State: link.HealthGone, Product: lamp}, want: fallback},
		{name: "gone, store known", h: link.Health{State: link.HealthGone, Product: lamp}, want: store},
		{name: "gone, title known", h: link.Health{State: link.HealthGone, Product: link.Product{Title: lamp.Title}},
			want: "https://www.aliexpress.com/wholesale?SearchText=Solar+garden+lamp+2-pack"},
		{name: "gone, nothing known", h: link.Health{State: link.HealthGone}, want: "https://www.aliexpress.com/"},
		{name: "gone, store not aliexpress", h: link.Health{State: link.HealthGone, Product: link.Product{Store: "https://evil.example/store/1"}},
			want: "https://www.aliexpress.com/"},
		{name: "gone, stored plan B off aliexpress", fallback: "https://evil.example/x", h: link.Health{State: link.HealthGone}, want: "https://www.aliexpress.com/"},
		{name: "untagged, plan B for gone only", fallback: fallback, h: link.Health{State: link.HealthUntagged}, want: ""},
		{name: "untagged, plan B then too", fallback: fallback, when: link.FallbackUntagged, h: link.Health{State: link.HealthUntagged}, want: fallback},
	} {
		rec := link.Record{ID: "x", Target: target, Fallback: tc.fallback, FallbackWhen: tc.when}
		if got := Divert(rec, tc.h); got != tc.want {
			t.Errorf("%s: Divert(%+v, %+v) = %q, want %q", tc.name, rec, tc.h, got, tc.want)
		}
	}
}

func TestEarns(t *testing.T) {
	for rate, want := range map[string]bool{"7.0%": true, "0.5%": true, "": true, "0.0%": false, "0%": false, " 0 ": false, "n/a": true} {
		if got := Earns(rate); got != want {
			t.Errorf("Earns(%q) = %v, want %v", rate, got, want)
		}
	}
}

func TestKeywords(t *testing.T) {
	for in, want := range map[string]string{
		"Solar garden lamp, 2-pack!": "Solar garden lamp 2-pack",
		"":                           "",
		"<script>alert(1)</script>":  "script alert 1 script",
		"one two three four five six seven eight nine ten": "one two three four five six seven eight",
		"Лампа садовая":                                    "Лампа садовая",
	} {
		if got := Keywords(in); got != want {
			t.Errorf("Keywords(%q) = %q, want %q", in, got, want)
		}
	}
}
