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
	apiError(t, "PATCH an unknown channel", e.api(http.MethodPatch, "/api/links/"+l.ID, `{"url":"`+page+`","channel":"nope"}`), http.StatusBadRequest)
	decode(t, e.api(http.MethodGet, "/api/links/"+l.ID, ""), &got)
	if got.Channel != testChannel || got.Target != "https://www.aliexpress.com/item/1005009999999999.html" {
		t.Errorf("a refused PATCH changed the link: channel %q, target %q", got.Channel, got.Target)
	}
}

// TestPatchChannel: PATCH moves a link to another channel (the console's bulk "set channel"): its clicks
// are tagged with the new tracking id from the next click, and a link moved off the default channel no
// longer answers for its page there, so a link made for that page on the default channel is a new one.
func TestPatchChannel(t *testing.T) {
	e := newEnv(t, envOptions{})
	def := e.platform.Config().TrackingID
	for _, page := range []string{
		"https://www.aliexpress.com/item/1005001111111111.html", // a product code
		"https://www.aliexpress.com/store/912345",               // a random id, the page's shared one
	} {
		l := e.create(`{"url":"`+page+`"}`, http.StatusCreated)
		if l.Channel != "" {
			t.Fatalf("%s: created on channel %q, want the default", page, l.Channel)
		}
		r := e.api(http.MethodPatch, "/api/links/"+l.ID, `{"channel":"`+testChannel+`"}`)
		var moved linkReply
		decode(t, r, &moved)
		if r.status != http.StatusOK || moved.Channel != testChannel {
			t.Fatalf("%s: PATCH channel = %s", page, r)
		}
		if r := e.get("/" + l.ID); r.status != http.StatusFound {
			t.Fatalf("/%s = %s, want 302", l.ID, r)
		}
		if got := lastTracking(t, e); got != testChannel {
			t.Errorf("%s moved to %s: its click generated with tracking_id %q", l.ID, testChannel, got)
		}
		again := e.create(`{"url":"`+page+`"}`, http.StatusCreated)
		if again.ID == l.ID || again.Channel != "" {
			t.Errorf("%s: the page on the default channel got %s on %q; want a new link, not the moved %s", page, again.ID, again.Channel, l.ID)
		}
		if same := e.create(`{"url":"`+page+`"}`, http.StatusOK); same.ID != again.ID {
			t.Errorf("%s: the page's default-channel link is now %s, want %s", page, same.ID, again.ID)
		}
		// Back to the default channel: null, as for the other fields.
		var back linkReply
		r = e.api(http.MethodPatch, "/api/links/"+l.ID, `{"channel":null}`)
		decode(t, r, &back)
		if r.status != http.StatusOK || back.Channel != "" {
			t.Errorf("%s: PATCH channel null = %s", l.ID, r)
		}
		var got linkReply
		decode(t, e.api(http.MethodGet, "/api/links/"+l.ID, ""), &got)
		if got.Channel != "" {
			t.Errorf("%s: stored channel %q after moving back", l.ID, got.Channel)
		}
	}
	// The default channel's link of a fresh page, clicked: the default tracking id.
	l := e.create(`{"url":"https://www.aliexpress.com/item/1005002222222222.html"}`, http.StatusCreated)
	e.get("/" + l.ID)
	if got := lastTracking(t, e); got != def {
		t.Errorf("default channel: tracking_id %q, want %q", got, def)
	}
}
