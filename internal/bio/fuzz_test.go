package bio

import (
	"context"
	"net/netip"
	"strings"
	"testing"

	"github.com/redirector/redirector/internal/shortlink"
)

// fakePages, fakeLinks and fakeProducts stand in for the store, the short links and the product
// details: every link is live and leads to a product.
type fakePages map[string]Page

func (f fakePages) Get(_ context.Context, handle string) (Page, bool, error) {
	k, _ := Key(handle)
	p, ok := f[k]
	return p, ok, nil
}

type fakeLinks struct{}

func (fakeLinks) Link(_ context.Context, id string) (shortlink.Link, bool, error) {
	return shortlink.Link{Target: "https://www.aliexpress.com/item/1005001234567890.html", Recorded: true}, true, nil
}

// FuzzRender: whatever a creator writes and a seller titles, a page that passes Check renders to
// one style block (the one the CSP's hash allows), no script, no markup of theirs, and its
// handle checks as Key does.
func FuzzRender(f *testing.F) {
	f.Add("ana.picks", "Ana's picks", "What I <b>use</b>", "AP", "Desk", "My lamp", "Lamp </style><script>alert(1)</script>", "https://ae01.alicdn.com/kf/a.jpg")
	f.Add("A_b.C", "\"><img src=x onerror=alert(1)>", "a\nb", "", "</ul><script>", "", "Mug", "javascript:alert(1)")
	f.Fuzz(func(t *testing.T, handle, title, text, avatar, heading, caption, prodTitle, prodImage string) {
		p := Page{Handle: handle, Title: title, Text: text, Avatar: avatar, Items: []Item{{Heading: heading}, {ID: "aZ3kP9qX", Caption: caption}}}
		if heading == "" {
			p.Items = p.Items[1:]
		}
		err := Check(p, true)
		k, ok := Key(handle)
		if ok != (CheckHandle(handle) == nil) || (ok && k != strings.ToLower(handle)) {
			t.Fatalf("Key(%q) = %q, %v; CheckHandle = %v", handle, k, ok, CheckHandle(handle))
		}
		if err != nil {
			return
		}
		products := ProductsFunc(func(context.Context, string, netip.Addr) (Product, bool) {
			return Product{Title: prodTitle, Image: prodImage, Price: "1.00", Currency: "USD"}, true
		})
		r := NewRenderer(fakePages{k: p}, fakeLinks{}, products, "https://go.example.test", RenderOptions{})
		out, err := r.Render(context.Background(), handle, netip.Addr{})
		if err != nil || !out.Found {
			t.Fatalf("Render(%q) = %v, %v; want the page", handle, out.Found, err)
		}
		html := string(out.Body)
		if n := strings.Count(html, "<style>"); n != 1 || !strings.Contains(html, "<style>"+pageCSS+"</style>") {
			t.Fatalf("the page has %d style blocks, or not the hashed one:\n%s", n, html)
		}
		if strings.Contains(strings.ToLower(html), "<script") || strings.Count(html, "<b>") != 1 || strings.Count(html, "<img") > 2 {
			t.Fatalf("markup of the input reached the page:\n%s", html)
		}
		if strings.Contains(html, `src="`+prodImage+`"`) && prodImage != "" && !strings.HasPrefix(prodImage, "https://") {
			t.Fatalf("an image off AliExpress's hosts is shown: %q", prodImage)
		}
	})
}
