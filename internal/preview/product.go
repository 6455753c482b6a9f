package preview

import (
	"context"
	"net/netip"

	"github.com/redirector/redirector/internal/affiliate"
	"github.com/redirector/redirector/internal/aliurl"
)

// ImageSources are the CSP sources of the only hosts ValidImage accepts: AliExpress's image hosts.
const ImageSources = "https://*.alicdn.com https://*.aliexpress-media.com"

// ValidImage reports whether raw is an https image URL on AliExpress's image hosts (alicdn.com,
// aliexpress-media.com), no user info, default port, at most 2 KiB: the only images a page of the
// service shows.
func ValidImage(raw string) bool { return validImage(raw) }

// Product returns the details of the product that target (a canonical page) names, from the same
// cache, budget and single fetch per product as Preview: ok=false when target is not a product page,
// or its details cannot be had now (refused, failed, or not within Options.Timeout). A product
// whose image is not on AliExpress's image hosts has ok=false. client names who asked, for
// Options.Admit. Safe for concurrent use.
func (p *Previewer) Product(ctx context.Context, target string, client netip.Addr) (affiliate.Product, bool) {
	page, err := aliurl.Parse(target)
	if err != nil || page.Kind != aliurl.Product {
		return affiliate.Product{}, false
	}
	return p.product(ctx, page.ID, client)
}
