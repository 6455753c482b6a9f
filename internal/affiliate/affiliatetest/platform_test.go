package affiliatetest_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redirector/redirector/internal/affiliate"
	"github.com/redirector/redirector/internal/affiliate/affiliatetest"
)

const source = "https://www.aliexpress.com/item/1005001234567890.html"

func signedForm(cfg affiliatetest.PlatformConfig, mod func(url.Values)) url.Values {
	f := url.Values{
		"app_key":             {cfg.AppKey},
		"method":              {affiliatetest.MethodLinkGenerate},
		"timestamp":           {strconv.FormatInt(time.Now().UnixMilli(), 10)},
		"sign_method":         {"sha256"},
		"v":                   {"2.0"},
		"tracking_id":         {cfg.TrackingID},
		"promotion_link_type": {"0"},
		"source_values":       {source},
	}
	if mod != nil {
		mod(f)
	}
	if f.Get("sign") == "" {
		f.Set("sign", affiliate.Sign(cfg.Secret, f))
	}
	return f
}

type answer struct {
	Error *struct {
		Type, Code, Msg string
		RequestID       string `json:"request_id"`
	} `json:"error_response"`
	Link *struct {
		RespResult struct {
			RespCode int `json:"resp_code"`
			Result   struct {
				PromotionLinks struct {
					PromotionLink []struct {
						PromotionLink string `json:"promotion_link"`
						SourceValue   string `json:"source_value"`
					} `json:"promotion_link"`
				} `json:"promotion_links"`
			}
		} `json:"resp_result"`
	} `json:"aliexpress_affiliate_link_generate_response"`
}

func post(t *testing.T, srvURL, method, contentType, body string) (int, answer) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, srvURL, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var a answer
	if err := json.Unmarshal(b, &a); err != nil {
		t.Fatalf("answer %q is not JSON: %v", b, err)
	}
	return resp.StatusCode, a
}

// TestPlatformIsStrict sends requests with one thing wrong each and checks the error the fake answers.
func TestPlatformIsStrict(t *testing.T) {
	p, srv := affiliatetest.NewServer(affiliatetest.PlatformConfig{})
	defer srv.Close()
	cfg := p.Config()
	const form = "application/x-www-form-urlencoded"
	del := func(name string) func(url.Values) { return func(f url.Values) { f.Del(name) } }
	set := func(name, v string) func(url.Values) { return func(f url.Values) { f.Set(name, v) } }
	tests := []struct {
		name        string
		httpMethod  string
		contentType string
		mod         func(url.Values)
		body        func(url.Values) string
		wantCode    string // "" for success
	}{
		{name: "valid", wantCode: ""},
		{name: "hot link type", mod: set("promotion_link_type", "2"), wantCode: ""},
		{name: "GET", httpMethod: http.MethodGet, wantCode: "InvalidParameter"},
		{name: "JSON body", contentType: "application/json", wantCode: "InvalidParameter"},
		{name: "in the query, not the body", body: func(url.Values) string { return "" }, wantCode: "MissingParameter"},
		{name: "no app_key", mod: del("app_key"), wantCode: "MissingParameter"},
		{name: "no method", mod: del("method"), wantCode: "MissingParameter"},
		{name: "no timestamp", mod: del("timestamp"), wantCode: "MissingParameter"},
		{name: "no sign_method", mod: del("sign_method"), wantCode: "MissingParameter"},
		{name: "no v", mod: del("v"), wantCode: "MissingParameter"},
		{name: "no sign", body: func(f url.Values) string { f.Del("sign"); return f.Encode() }, wantCode: "MissingParameter"},
		{name: "no tracking_id", mod: del("tracking_id"), wantCode: "MissingParameter"},
		{name: "no promotion_link_type", mod: del("promotion_link_type"), wantCode: "MissingParameter"},
		{name: "no source_values", mod: del("source_values"), wantCode: "MissingParameter"},
		{name: "duplicate parameter", body: func(f url.Values) string { return f.Encode() + "&v=2.0" }, wantCode: "InvalidParameter"},
		{name: "wrong app key", mod: set("app_key", "999"), wantCode: "InvalidAppKey"},
		{name: "md5", mod: set("sign_method", "md5"), wantCode: "InvalidParameter"},
		{name: "v 1.0", mod: set("v", "1.0"), wantCode: "InvalidParameter"},
		{name: "timestamp in seconds", mod: set("timestamp", strconv.FormatInt(time.Now().Unix(), 10)), wantCode: "InvalidTimestamp"},
		{name: "timestamp 16 minutes old", mod: set("timestamp", strconv.FormatInt(time.Now().Add(-16*time.Minute).UnixMilli(), 10)), wantCode: "InvalidTimestamp"},
		{name: "timestamp as a date", mod: set("timestamp", "2024-01-01 00:00:00"), wantCode: "InvalidTimestamp"},
		{name: "wrong sign", mod: set("sign", strings.Repeat("A", 64)), wantCode: "IncompleteSignature"},
		{name: "lower-case sign", body: func(f url.Values) string { f.Set("sign", strings.ToLower(f.Get("sign"))); return f.Encode() }, wantCode: "IncompleteSignature"},
		{name: "signed with the value encoded", body: func(f url.Values) string {
			f.Set("source_values", url.QueryEscape(source))
			f.Set("sign", affiliate.Sign(cfg.Secret, f))
			f.Set("source_values", source)
			return f.Encode()
		}, wantCode: "IncompleteSignature"},
		{name: "unknown method", mod: set("method", "aliexpress.affiliate.nothing"), wantCode: "InvalidApiPath"},
		{name: "wrong tracking id", mod: set("tracking_id", "someone_else"), wantCode: "InvalidParameter"},
		{name: "bad promotion_link_type", mod: set("promotion_link_type", "7"), wantCode: "InvalidParameter"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := signedForm(cfg, tc.mod)
			body := f.Encode()
			if tc.body != nil {
				body = tc.body(f)
			}
			u := srv.URL
			if tc.body != nil && body == "" {
				u += "?" + f.Encode()
			}
			status, a := post(t, u, cmpOr(tc.httpMethod, http.MethodPost), cmpOr(tc.contentType, form), body)
			switch {
			case status != http.StatusOK:
				t.Errorf("status = %d, want 200", status)
			case tc.wantCode == "" && (a.Error != nil || a.Link == nil || a.Link.RespResult.RespCode != 200):
				t.Errorf("answer = %+v, want a link", a)
			case tc.wantCode != "" && (a.Error == nil || a.Error.Code != tc.wantCode || a.Error.Type != "ISV" || a.Error.RequestID == ""):
				t.Errorf("answer = %+v, want error_response %s", a, tc.wantCode)
			}
		})
	}
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func TestPlatformBan(t *testing.T) {
	p, srv := affiliatetest.NewServer(affiliatetest.PlatformConfig{BanSeconds: 5})
	defer srv.Close()
	p.FailNext(affiliatetest.FailRateLimit, 1)
	for i := range 2 {
		_, a := post(t, srv.URL, http.MethodPost, "application/x-www-form-urlencoded", signedForm(p.Config(), nil).Encode())
		if a.Error == nil || a.Error.Code != "ApiCallLimit" || !strings.Contains(a.Error.Msg, "this ban will last 5 seconds") {
			t.Errorf("call %d answer = %+v, want ApiCallLimit for 5 seconds", i, a)
		}
	}
	p.Reset()
	if _, a := post(t, srv.URL, http.MethodPost, "application/x-www-form-urlencoded", signedForm(p.Config(), nil).Encode()); a.Link == nil {
		t.Errorf("after Reset answer = %+v, want a link", a)
	}
	if n := p.Calls(); n != 1 {
		t.Errorf("Calls after Reset and one call = %d, want 1", n)
	}
}

func TestLink(t *testing.T) {
	a, b := affiliatetest.Link(source), affiliatetest.Link(source+"?sku_id=1")
	if a != affiliatetest.Link(source) || a == b || !strings.HasPrefix(a, "https://s.click.aliexpress.com/e/_") {
		t.Errorf("Link(%q) = %q, Link(…sku_id) = %q; want a stable s.click link, distinct per source", source, a, b)
	}
}
