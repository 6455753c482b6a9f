package redirect

import (
	"net/http"
	"net/url"
	"testing"
)

// testChannel is the one channel besides the default that the test service may use.
const testChannel = "chan_b"

// lastTracking is the tracking_id of the last link.generate request the fake received.
func lastTracking(t *testing.T, e *env) string {
	t.Helper()
	reqs := e.platform.Requests()
	for i := len(reqs) - 1; i >= 0; i-- {
		if reqs[i].Get("method") == "aliexpress.affiliate.link.generate" {
			return reqs[i].Get("tracking_id")
		}
	}
	t.Fatal("no link.generate request")
	return ""
}

// TestChannels: /go and short links take only configured channels, and each channel gets its own
// affiliate link (the cache is keyed by page and channel; the platform is asked with that tracking id).
func TestChannels(t *testing.T) {
	e := newEnv(t, envOptions{})
	page := "https://www.aliexpress.com/item/1005001234567890.html"
	def := e.platform.Config().TrackingID

	for _, tc := range []struct {
		name, query string
		want        int
	}{
		{"unknown channel", "c=someone_else", http.StatusBadRequest},
		{"empty channel", "c=", http.StatusFound},
		{"bad encoding", "c=%zz", http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.get("/go?" + tc.query + "&u=" + url.QueryEscape(page))
			if r.status != tc.want {
				t.Errorf("/go?%s = %s, want %d", tc.query, r, tc.want)
			}
			if tc.want == http.StatusBadRequest && r.header.Get("Location") != "" {
				t.Errorf("/go?%s: a refusal with a Location %q", tc.query, r.header.Get("Location"))
			}
		})
	}

	// "c=" above made and cached the page's link on the default channel.
	if got := lastTracking(t, e); got != def {
		t.Errorf("/go with c=: generated with tracking_id %q, want %q", got, def)
	}
	calls := e.platform.Calls()
	r := e.get("/go?c=" + testChannel + "&u=" + url.QueryEscape(page))
	if r.status != http.StatusFound {
		t.Fatalf("/go on %s = %s, want 302", testChannel, r)
	}
	if e.platform.Calls() != calls+1 {
		t.Errorf("the channel shared the default channel's cached link: calls %d → %d", calls, e.platform.Calls())
	}
	if got := lastTracking(t, e); got != testChannel {
		t.Errorf("/go on %s: generated with tracking_id %q", testChannel, got)
	}
	calls = e.platform.Calls()
	e.get("/go?c=" + testChannel + "&u=" + url.QueryEscape(page))
	e.get("/go?u=" + url.QueryEscape(page))
	if e.platform.Calls() != calls {
		t.Errorf("cached links of both channels: calls %d → %d, want none", calls, e.platform.Calls())
	}

	// Short links.
	apiError(t, "POST with an unknown channel", e.api(http.MethodPost, "/api/links", `{"url":"`+page+`","channel":"nope"}`), http.StatusBadRequest)
	l := e.create(`{"url":"https://www.aliexpress.com/item/1005009999999999.html","channel":"`+testChannel+`"}`, http.StatusCreated)
	if l.Channel != testChannel {
		t.Errorf("created link's channel = %q, want %q", l.Channel, testChannel)
	}
	var got linkReply
	decode(t, e.api(http.MethodGet, "/api/links/"+l.ID, ""), &got)
	if got.Channel != testChannel {
		t.Errorf("GET link's channel = %q, want %q", got.Channel, testChannel)
	}
	if r := e.get("/" + l.ID); r.status != http.StatusFound {
		t.Fatalf("/%s = %s, want 302", l.ID, r)
	}
	if got := lastTracking(t, e); got != testChannel {
		t.Errorf("short link on %s: generated with tracking_id %q", testChannel, got)
	}
	apiError(t, "PATCH a channel", e.api(http.MethodPatch, "/api/links/"+l.ID, `{"url":"`+page+`","channel":"`+testChannel+`"}`), http.StatusBadRequest)
}
