package aliurl_test

import (
	"fmt"

	"github.com/redirector/redirector/internal/aliurl"
)

func ExampleParse() {
	p, err := aliurl.Parse("https://m.aliexpress.com/item/1005001234567890.html?spm=a2g0o.home.0.0&gatewayAdapt=glo2usa&sku_id=12000012345678901")
	fmt.Println(p.Kind, p.ID, p.SKU, p.URL, err)

	_, err = aliurl.Parse("https://www.aliexpress.com@evil.com/")
	fmt.Println(err)
	// Output:
	// product 1005001234567890 12000012345678901 https://www.aliexpress.com/item/1005001234567890.html?sku_id=12000012345678901 <nil>
	// URL must not contain a user name or password
}
