package affiliate

import (
	"errors"
	"strings"
	"testing"
)

const (
	src1 = "https://www.aliexpress.com/item/1005001234567890.html"
	src2 = "https://www.aliexpress.com/item/1005009876543210.html"
)

func TestParseLinks(t *testing.T) {
	tests := []struct {
		name      string
		body      string
		want      map[string]Result
		wantErr   error  // matched with errors.Is
		wantCode  string // for a *PlatformError
		transport bool
	}{
		{
			name: "success",
			body: `{"aliexpress_affiliate_link_generate_response":{"resp_result":{"resp_code":200,"resp_msg":"Call succeeds","result":{"promotion_links":{"promotion_link":[{"promotion_link":"https://s.click.aliexpress.com/e/_A","source_value":"` + src1 + `"},{"promotion_link":"https://s.click.aliexpress.com/e/_B","source_value":"` + src2 + `"}]},"total_result_count":2,"tracking_id":"t"}},"request_id":"r1"}}`,
			want: map[string]Result{src1: {Link: "https://s.click.aliexpress.com/e/_A"}, src2: {Link: "https://s.click.aliexpress.com/e/_B"}},
		},
		{
			name: "simplified bare array",
			body: `{"aliexpress_affiliate_link_generate_response":{"resp_result":{"resp_code":200,"resp_msg":"Call succeeds","result":{"promotion_links":[{"promotion_link":"https://s.click.aliexpress.com/e/_A","source_value":"` + src1 + `"}],"total_result_count":1}},"request_id":"r1"}}`,
			want: map[string]Result{src1: {Link: "https://s.click.aliexpress.com/e/_A"}, src2: {Err: ErrNotPromotable}},
		},
		{
			name: "source without promotion_link",
			body: `{"aliexpress_affiliate_link_generate_response":{"resp_result":{"resp_code":200,"resp_msg":"Call succeeds","result":{"promotion_links":{"promotion_link":[{"source_value":"` + src1 + `"},{"promotion_link":"https://s.click.aliexpress.com/e/_B","source_value":"` + src2 + `"}]},"total_result_count":1}},"request_id":"r1"}}`,
			want: map[string]Result{src1: {Err: ErrNotPromotable}, src2: {Link: "https://s.click.aliexpress.com/e/_B"}},
		},
		{
			name: "total_result_count 0",
			body: `{"aliexpress_affiliate_link_generate_response":{"resp_result":{"resp_code":200,"resp_msg":"Call succeeds","result":{"total_result_count":0}},"request_id":"r1"}}`,
			want: map[string]Result{src1: {Err: ErrNotPromotable}, src2: {Err: ErrNotPromotable}},
		},
		{
			name: "resp_code 405 empty",
			body: `{"aliexpress_affiliate_link_generate_response":{"resp_result":{"resp_code":405,"resp_msg":"The result is empty"},"request_id":"r1"}}`,
			want: map[string]Result{src1: {Err: ErrNotPromotable}, src2: {Err: ErrNotPromotable}},
		},
		{
			name: "link that is not an absolute http URL",
			body: `{"aliexpress_affiliate_link_generate_response":{"resp_result":{"resp_code":200,"resp_msg":"Call succeeds","result":{"promotion_links":[{"promotion_link":"javascript:alert(1)","source_value":"` + src1 + `"},{"promotion_link":"https:///x","source_value":"` + src2 + `"}]}}}}`,
			want: map[string]Result{src1: {Err: ErrNotPromotable}, src2: {Err: ErrNotPromotable}},
		},
		{
			name:     "resp_code 401 not registered",
			body:     `{"aliexpress_affiliate_link_generate_response":{"resp_result":{"resp_code":401,"resp_msg":"This publisher is not registered"},"request_id":"r1"}}`,
			wantCode: "401",
		},
		{
			name:     "error_response",
			body:     `{"error_response":{"type":"ISV","code":"IncompleteSignature","msg":"The request signature does not conform to platform standards","request_id":"r1"}}`,
			wantCode: "IncompleteSignature",
		},
		{
			name:     "ApiCallLimit",
			body:     `{"error_response":{"type":"ISV","code":"ApiCallLimit","msg":"Api access frequency exceeds the limit. this ban will last 1 seconds","request_id":"r1"}}`,
			wantCode: "ApiCallLimit",
			wantErr:  ErrRateLimited,
		},
		{name: "html", body: `<html><body>502</body></html>`, transport: true},
		{name: "truncated", body: `{"aliexpress_affiliate_link_generate_response":{"resp_res`, transport: true},
		{name: "other shape", body: `{"something_else":{}}`, transport: true},
		{name: "empty", body: ``, transport: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseLinks([]byte(tc.body), []string{src1, src2})
			var pe *PlatformError
			switch {
			case tc.transport:
				if !errors.Is(err, ErrTransport) {
					t.Fatalf("parseLinks(%.40q) error = %v, want a transport error", tc.body, err)
				}
			case tc.wantCode != "":
				if !errors.As(err, &pe) || pe.Code != tc.wantCode || pe.RequestID != "r1" {
					t.Fatalf("parseLinks(%.40q) error = %v, want *PlatformError code %s request r1", tc.body, err, tc.wantCode)
				}
				if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
					t.Fatalf("parseLinks(%.40q) error = %v, want errors.Is %v", tc.body, err, tc.wantErr)
				}
			default:
				if err != nil {
					t.Fatalf("parseLinks(%.40q) error = %v", tc.body, err)
				}
				if len(got) != len(tc.want) {
					t.Fatalf("parseLinks(%.40q) = %v, want %v", tc.body, got, tc.want)
				}
				for s, w := range tc.want {
					if g := got[s]; g.Link != w.Link || !errors.Is(g.Err, w.Err) {
						t.Errorf("parseLinks(%.40q)[%s] = %+v, want %+v", tc.body, s, g, w)
					}
				}
			}
		})
	}
}

func TestParseProduct(t *testing.T) {
	const id = "1005001234567890"
	tests := []struct {
		name    string
		body    string
		want    Product
		wantErr error
	}{
		{
			name: "found",
			body: `{"aliexpress_affiliate_productdetail_get_response":{"resp_result":{"resp_code":200,"resp_msg":"Call succeeds","result":{"current_record_count":1,"products":{"product":[{"product_id":1005001234567890,"product_title":"Lamp","product_main_image_url":"https://ae01.alicdn.com/kf/x.jpg","target_sale_price":"12.34","target_sale_price_currency":"USD"}]}}},"request_id":"r"}}`,
			want: Product{ID: id, Title: "Lamp", ImageURL: "https://ae01.alicdn.com/kf/x.jpg", Price: "12.34", Currency: "USD"},
		},
		{
			name: "found, id as string, bare array",
			body: `{"aliexpress_affiliate_productdetail_get_response":{"resp_result":{"resp_code":200,"resp_msg":"Call succeeds","result":{"current_record_count":1,"products":[{"product_id":"1005001234567890","product_title":"Lamp","target_sale_price":"1.00","target_sale_price_currency":"EUR"}]}},"request_id":"r"}}`,
			want: Product{ID: id, Title: "Lamp", Price: "1.00", Currency: "EUR"},
		},
		{
			name:    "empty",
			body:    `{"aliexpress_affiliate_productdetail_get_response":{"resp_result":{"resp_code":405,"resp_msg":"The result is empty"},"request_id":"r"}}`,
			wantErr: ErrNotPromotable,
		},
		{
			name:    "other product",
			body:    `{"aliexpress_affiliate_productdetail_get_response":{"resp_result":{"resp_code":200,"resp_msg":"Call succeeds","result":{"current_record_count":1,"products":{"product":[{"product_id":1}]}}},"request_id":"r"}}`,
			wantErr: ErrNotPromotable,
		},
		{
			name:    "garbage",
			body:    `<html>`,
			wantErr: ErrTransport,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseProduct([]byte(tc.body), id)
			if got != tc.want || !errors.Is(err, tc.wantErr) {
				t.Errorf("parseProduct(%.40q) = %+v, %v; want %+v, %v", tc.body, got, err, tc.want, tc.wantErr)
			}
		})
	}
}

// FuzzParseLinks checks that any body yields either an error or exactly one Result per source, each a
// valid link or an error.
func FuzzParseLinks(f *testing.F) {
	f.Add(`{"aliexpress_affiliate_link_generate_response":{"resp_result":{"resp_code":200,"resp_msg":"Call succeeds","result":{"promotion_links":{"promotion_link":[{"promotion_link":"https://s.click.aliexpress.com/e/_A","source_value":"a"}]},"total_result_count":1}},"request_id":"r"}}`)
	f.Add(`{"aliexpress_affiliate_link_generate_response":{"resp_result":{"resp_code":200,"result":{"promotion_links":[{"promotion_link":"http://x","source_value":"b"}]}}}}`)
	f.Add(`{"error_response":{"type":"ISV","code":"ApiCallLimit","msg":"Api access frequency exceeds the limit. this ban will last 1 seconds","request_id":"r"}}`)
	f.Add(`{"aliexpress_affiliate_link_generate_response":{"resp_result":{"resp_code":405}}}`)
	f.Add(`<html>`)
	f.Fuzz(func(t *testing.T, body string) {
		sources := []string{"a", "b"}
		got, err := parseLinks([]byte(body), sources)
		if err != nil {
			if got != nil {
				t.Fatalf("parseLinks(%q) = %v, %v: results with an error", body, got, err)
			}
			return
		}
		if len(got) != len(sources) {
			t.Fatalf("parseLinks(%q) = %v, want one result per source", body, got)
		}
		for s, r := range got {
			if (r.Err == nil) != validLink(r.Link) || (r.Err != nil && r.Link != "") {
				t.Fatalf("parseLinks(%q)[%s] = %+v: want a valid link or an error", body, s, r)
			}
			if r.Link != "" && !strings.HasPrefix(r.Link, "http") {
				t.Fatalf("parseLinks(%q)[%s] = %+v: not an http link", body, s, r)
			}
		}
	})
}

func BenchmarkParseLinks(b *testing.B) {
	var sb strings.Builder
	sources := make([]string, 50)
	sb.WriteString(`{"aliexpress_affiliate_link_generate_response":{"resp_result":{"resp_code":200,"resp_msg":"Call succeeds","result":{"promotion_links":{"promotion_link":[`)
	for i := range sources {
		sources[i] = "https://www.aliexpress.com/item/10050012345678" + string(rune('0'+i/10)) + string(rune('0'+i%10)) + ".html"
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(`{"promotion_link":"https://s.click.aliexpress.com/e/_DkxYz` + string(rune('A'+i%26)) + `","source_value":"` + sources[i] + `"}`)
	}
	sb.WriteString(`]},"total_result_count":50,"tracking_id":"blog_tracking"}},"request_id":"2101e9d517000000000000000"}}`)
	body := []byte(sb.String())
	b.Run("batch=50", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := parseLinks(body, sources); err != nil {
				b.Fatal(err)
			}
		}
	})
	one := []byte(`{"aliexpress_affiliate_link_generate_response":{"resp_result":{"resp_code":200,"resp_msg":"Call succeeds","result":{"promotion_links":{"promotion_link":[{"promotion_link":"https://s.click.aliexpress.com/e/_DkxYzAB","source_value":"` + src1 + `"}]},"total_result_count":1,"tracking_id":"blog_tracking"}},"request_id":"2101e9d517000000000000000"}}`)
	b.Run("batch=1", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := parseLinks(one, []string{src1}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
