package aliurl

import (
	"errors"
	"net/url"
	"strings"
	"testing"
)

const (
	pid    = "1005001234567890"
	sku    = "12000012345678901"
	canon  = "https://www.aliexpress.com/item/" + pid + ".html"
	canonS = canon + "?sku_id=" + sku
)

// parseTest is one Parse case: an accepted input names kind, id, sku and url; a refused one names err.
type parseTest struct {
	name string
	in   string
	kind Kind
	id   string
	sku  string
	url  string
	err  *Error
}

func product(name, in, want string) parseTest {
	id := want[strings.LastIndexByte(want, '/')+1:]
	id, _, _ = strings.Cut(id, ".")
	t := parseTest{name: name, in: in, kind: Product, id: id, url: want}
	if _, s, ok := strings.Cut(want, "?sku_id="); ok {
		t.sku = s
	}
	return t
}

func refused(name, in string, err *Error) parseTest {
	return parseTest{name: name, in: in, err: err}
}

// parseTests draws its refusals from public open-redirect payload lists (PayloadsAllTheThings, HackTricks and
// similar collections), URL-parser confusion research (Orange Tsai's "A New Era of SSRF", Claroty/Snyk's
// "Exploiting URL parsing confusion") and the WHATWG URL standard's special cases.
var parseTests = []parseTest{
	// Product pages as people paste them.
	product("desktop", "https://www.aliexpress.com/item/"+pid+".html", canon),
	product("http", "http://www.aliexpress.com/item/"+pid+".html", canon),
	product("bare domain", "https://aliexpress.com/item/"+pid+".html", canon),
	product("mobile with tracking and sku", "https://m.aliexpress.com/item/"+pid+".html?spm=a2g0o.home.0.0&gatewayAdapt=glo2usa&sku_id="+sku, canonS),
	product("spanish locale with pdp params", "https://es.aliexpress.com/item/"+pid+".html?spm=a2g0o.productlist.main.1.2a3b&algo_pvid=5f1e&algo_exp_id=5f1e-0&pdp_npi=4%40dis%21EUR%2112.34%2110.00%21%21%21%21%21%402103%21"+sku+"%21sea&curPageLogUid=AbC&utparam-url=scene%3Asearch", canon),
	product("portuguese locale", "https://pt.aliexpress.com/item/"+pid+".html?gatewayAdapt=glo2bra", canon),
	product("french locale", "https://fr.aliexpress.com/item/"+pid+".html", canon),
	product("hebrew locale", "https://he.aliexpress.com/item/"+pid+".html?srcSns=sns_Copy&spreadType=socialShare&bizType=ProductDetail&social_params=60000&tt=MG&aff_fcid=abc&aff_fsk=_DmXYZ&aff_platform=default&sk=_DmXYZ&aff_trace_key=abc-def&terminal_id=0f1e&afSmartRedirect=y", canon),
	product("japanese locale", "https://ja.aliexpress.com/item/"+pid+".html", canon),
	product("without .html", "https://www.aliexpress.com/item/"+pid, canon),
	product("short /i/ form", "https://www.aliexpress.com/i/"+pid+".html", canon),
	product("old name form", "https://www.aliexpress.com/item/Wireless-Earbuds-Bluetooth-5-0/32812345678.html", "https://www.aliexpress.com/item/32812345678.html"),
	product("old store product form", "https://www.aliexpress.com/store/product/Phone-Case/1234567_32812345678.html", "https://www.aliexpress.com/item/32812345678.html"),
	product("us site keeps host", "https://www.aliexpress.us/item/3256801234567890.html?gatewayAdapt=glo2usa4itemAdapt&_randl_shipto=US", "https://www.aliexpress.us/item/3256801234567890.html"),
	product("us bare domain", "https://aliexpress.us/item/3256801234567890.html", "https://www.aliexpress.us/item/3256801234567890.html"),
	product("russian site keeps host", "https://aliexpress.ru/item/"+pid+".html?sku_id="+sku+"&spm=a2g2w.productlist", "https://aliexpress.ru/item/"+pid+".html?sku_id="+sku),
	product("russian mobile", "https://m.aliexpress.ru/item/"+pid+".html", "https://aliexpress.ru/item/"+pid+".html"),
	product("upper-case host and scheme", "HTTPS://WWW.AliExpress.COM/item/"+pid+".html", canon),
	product("trailing dot", "https://www.aliexpress.com./item/"+pid+".html", canon),
	product("explicit https port", "https://www.aliexpress.com:443/item/"+pid+".html", canon),
	product("explicit http port", "http://www.aliexpress.com:80/item/"+pid+".html", canon),
	product("empty port", "https://www.aliexpress.com:/item/"+pid+".html", canon),
	product("fragment dropped", "https://www.aliexpress.com/item/"+pid+".html#nav-review", canon),
	product("utm and aff dropped", "https://www.aliexpress.com/item/"+pid+".html?utm_source=blog&utm_medium=x&aff_short_key=abc&gps-id=pcStoreJustForYou&scm=1007.1&pdp_ext_f=%7B%22sku_id%22%3A%221%22%7D", canon),
	product("sku among tracking", "https://www.aliexpress.com/item/"+pid+".html?spm=x&sku_id="+sku+"&utm_source=y", canonS),
	product("first valid sku wins", "https://www.aliexpress.com/item/"+pid+".html?sku_id=abc&sku_id="+sku+"&sku_id=42", canonS),
	product("sku with leading zero dropped", "https://www.aliexpress.com/item/"+pid+".html?sku_id=0123", canon),
	product("encoded sku dropped", "https://www.aliexpress.com/item/"+pid+".html?sku_id=%31%32", canon),
	product("sku carrying a url dropped", "https://www.aliexpress.com/item/"+pid+".html?sku_id=https://evil.com", canon),
	product("redirect keys dropped", "https://www.aliexpress.com/item/"+pid+".html?redirectUrl=https%3A%2F%2Fevil.com&dl_target_url=https://evil.com&url=//evil.com&target=evil.com", canon),
	product("surrounding spaces trimmed", "  https://www.aliexpress.com/item/"+pid+".html ", canon),
	product("at sign in query is not user info", "https://www.aliexpress.com/item/"+pid+".html?@evil.com", canon),

	// Punctuation pasted with the URL from a sentence.
	product("trailing comma", canon+",", canon),
	product("trailing period", canon+".", canon),
	product("trailing semicolon", canon+";", canon),
	product("trailing colon", canon+":", canon),
	product("trailing exclamation mark", canon+"!", canon),
	product("trailing question mark", canon+"?", canon),
	product("trailing parenthesis", canon+")", canon),
	product("trailing bracket", canon+"]", canon),
	product("trailing angle bracket", canon+">", canon),
	product("trailing double quote", canon+`"`, canon),
	product("trailing single quote", canon+"'", canon),
	product("trailing typographic quote", canon+"\u201d", canon),
	product("trailing typographic apostrophe", canon+"\u2019", canon),
	product("trailing guillemet", canon+"\u00bb", canon),
	product("trailing ellipsis", canon+"\u2026", canon),
	product("trailing ideographic full stop", canon+"\u3002", canon),
	product("trailing full-width comma", canon+"\uff0c", canon),
	product("trailing full-width parenthesis", canon+"\uff09", canon),
	product("parenthesis and period", canon+").", canon),
	product("quote, comma and spaces", "  "+canon+` ",  `, canon),
	product("comma after sku", canonS+",", canonS),
	product("comma after tracking", "https://m.aliexpress.com/item/"+pid+".html?spm=a2g0o.home,", canon),
	product("without .html, trailing period", "https://www.aliexpress.com/item/"+pid+".", canon),
	product("trailing comma after fragment", canon+"#reviews,", canon),
	{name: "balanced parentheses kept", in: "https://www.aliexpress.com/w/wholesale-lamp.html?SearchText=lamp+(red)", kind: Other, url: "https://www.aliexpress.com/w/wholesale-lamp.html?SearchText=lamp+%28red%29"},
	{name: "unbalanced parenthesis cut", in: "https://www.aliexpress.com/w/wholesale-lamp.html?SearchText=lamp+(red))", kind: Other, url: "https://www.aliexpress.com/w/wholesale-lamp.html?SearchText=lamp+%28red%29"},
	{name: "parenthesized path kept", in: "https://www.aliexpress.com/p/a(b)", kind: Other, url: "https://www.aliexpress.com/p/a(b)"},
	{name: "closing quote kept", in: "https://www.aliexpress.com/wholesale?SearchText='red'", kind: Other, url: "https://www.aliexpress.com/wholesale?SearchText=%27red%27"},
	{name: "trailing period of a path escaped", in: "https://www.aliexpress.com/p/sale.?spm=1", kind: Other, url: "https://www.aliexpress.com/p/sale%2E"},
	{name: "trailing comma of a search escaped", in: "https://www.aliexpress.com/wholesale?SearchText=a,&spm=1", kind: Other, url: "https://www.aliexpress.com/wholesale?SearchText=a%2C"},
	{name: "unbalanced parenthesis of a path escaped", in: "https://www.aliexpress.com/p/a)?spm=1", kind: Other, url: "https://www.aliexpress.com/p/a%29"},
	{name: "escaped trailing period kept", in: "https://www.aliexpress.com/p/sale%2E", kind: Other, url: "https://www.aliexpress.com/p/sale%2E"},
	{name: "home page with trailing comma", in: "https://www.aliexpress.com/,", kind: Other, url: "https://www.aliexpress.com/"},
	refused("comma after host", "https://www.aliexpress.com,", errHost),
	refused("quote after host", `https://www.aliexpress.com"`, errHost),
	refused("space and question mark after host", "http://ALIEXPRESS.COM ?", errMalformed),
	refused("comma after look-alike host", "https://www.aliexpress.com.evil.com/,", errHost),

	product("escaped digits in id", "https://www.aliexpress.com/i/1%30%30500123456789%30.html", canon),
	product("escaped letters in path", "https://www.aliexpress.com/%69tem/"+pid+"%2Ehtml?sku_id="+sku, canonS),

	// Stores.
	{name: "store", in: "https://www.aliexpress.com/store/1101234567", kind: Store, id: "1101234567", url: "https://www.aliexpress.com/store/1101234567"},
	{name: "mobile store with slash", in: "https://m.aliexpress.com/store/912345/?spm=x", kind: Store, id: "912345", url: "https://www.aliexpress.com/store/912345"},
	{name: "russian store", in: "https://aliexpress.ru/store/912345", kind: Store, id: "912345", url: "https://aliexpress.ru/store/912345"},

	// Share links.
	{name: "app share link", in: "https://a.aliexpress.com/_mKLmNOp", kind: Share, id: "_mKLmNOp", url: "https://a.aliexpress.com/_mKLmNOp"},
	{name: "affiliate short link", in: "https://s.click.aliexpress.com/e/_DdwQn3v?bz=300", kind: Share, id: "_DdwQn3v", url: "https://s.click.aliexpress.com/e/_DdwQn3v"},
	{name: "old affiliate short link", in: "http://click.aliexpress.com/e/bXyZ12", kind: Share, id: "bXyZ12", url: "https://click.aliexpress.com/e/bXyZ12"},
	product("star wrapper unwrapped", "https://star.aliexpress.com/share/share.htm?image=https%3A%2F%2Fae01.alicdn.com%2Fx.jpg&businessType=ProductDetail&title=x&platform=AE&redirectUrl=https%3A%2F%2Fm.aliexpress.com%2Fitem%2F"+pid+".html%3Fsku_id%3D"+sku+"%26spm%3Dx", canonS),
	{name: "star wrapping a share link", in: "https://star.aliexpress.com/share/share.htm?redirectUrl=https%3A%2F%2Fa.aliexpress.com%2F_mKLmNOp", kind: Share, id: "_mKLmNOp", url: "https://a.aliexpress.com/_mKLmNOp"},
	product("star in star", "https://star.aliexpress.com/share/share.htm?redirectUrl="+url.QueryEscape("https://star.aliexpress.com/share/share.htm?redirectUrl="+url.QueryEscape(canon)), canon),

	// Other pages.
	{name: "home page", in: "https://www.aliexpress.com", kind: Other, url: "https://www.aliexpress.com/"},
	{name: "upper-case bare domain", in: "https://ALIEXPRESS.COM?spm=x", kind: Other, url: "https://aliexpress.com/"},
	{name: "search keeps allow-listed keys", in: "https://www.aliexpress.com/w/wholesale-phone-case.html?spm=a2g0o&SearchText=phone+case&catId=0&page=2&g=y&trafficChannel=main&SearchText=second", kind: Other, url: "https://www.aliexpress.com/w/wholesale-phone-case.html?SearchText=phone+case&catId=0&page=2&g=y"},
	{name: "locale host kept on other pages", in: "https://es.aliexpress.com/category/100003109/women-clothing.html", kind: Other, url: "https://es.aliexpress.com/category/100003109/women-clothing.html"},
	{name: "utf-8 path re-escaped", in: "https://www.aliexpress.com/w/wholesale-手机.html", kind: Other, url: "https://www.aliexpress.com/w/wholesale-%E6%89%8B%E6%9C%BA.html"},
	{name: "lower-case escapes upper-cased", in: "https://www.aliexpress.com/w/wholesale-%e6%89%8b%e6%9c%ba.html", kind: Other, url: "https://www.aliexpress.com/w/wholesale-%E6%89%8B%E6%9C%BA.html"},
	{name: "redirect keys dropped on other pages", in: "https://sale.aliexpress.com/__pc/sale.htm?redirectUrl=https://evil.com&url=%2F%2Fevil.com&wh_weex=true", kind: Other, url: "https://sale.aliexpress.com/__pc/sale.htm"},
	{name: "url-like search text dropped", in: "https://www.aliexpress.com/wholesale?SearchText=https%3A%2F%2Fevil.com&page=1", kind: Other, url: "https://www.aliexpress.com/wholesale?page=1"},
	{name: "javascript search text dropped", in: "https://www.aliexpress.com/wholesale?SearchText=javascript:alert(1)", kind: Other, url: "https://www.aliexpress.com/wholesale"},
	{name: "double-encoded url dropped", in: "https://www.aliexpress.com/wholesale?SearchText=https%253A%252F%252Fevil.com", kind: Other, url: "https://www.aliexpress.com/wholesale"},
	{name: "at sign after host in fragment", in: "https://www.aliexpress.com#@evil.com", kind: Other, url: "https://www.aliexpress.com/"},
	{name: "store sub-page is other", in: "https://www.aliexpress.com/store/912345/pages/all-items.html?sortType=orders_desc", kind: Other, url: "https://www.aliexpress.com/store/912345/pages/all-items.html?sortType=orders_desc"},
	{name: "non-numeric item is other", in: "https://www.aliexpress.com/item/abc.html", kind: Other, url: "https://www.aliexpress.com/item/abc.html"},
	{name: "trailing slash kept", in: "https://www.aliexpress.com/p/coin-index/", kind: Other, url: "https://www.aliexpress.com/p/coin-index/"},

	// Missing, too long, malformed.
	refused("empty", "", errEmpty),
	refused("spaces only", "   ", errEmpty),
	refused("too long", canon+"?x="+strings.Repeat("a", MaxLength), errTooLong),
	refused("too long once escaped", "https://www.aliexpress.com/w/"+strings.Repeat("é", 700), errTooLong),

	// Other sites and look-alike domains.
	refused("other site", "https://evil.com/item/"+pid+".html", errHost),
	refused("suffix trick", "https://aliexpress.com.evil.com/item/"+pid+".html", errHost),
	refused("suffix trick with trailing dot", "https://www.aliexpress.com.evil.com./", errHost),
	refused("prefix trick", "https://evilaliexpress.com/item/"+pid+".html", errHost),
	refused("hyphen trick", "https://evil-aliexpress.com/", errHost),
	refused("other tld", "https://www.aliexpress.co/item/"+pid+".html", errHost),
	refused("russian suffix trick", "https://aliexpress.ru.evil.com/", errHost),
	refused("nip.io", "https://www.aliexpress.com.127.0.0.1.nip.io/", errHost),
	refused("host in path", "https://evil.com/.aliexpress.com", errHost),
	refused("host in query", "https://evil.com?.aliexpress.com", errHost),
	refused("host in fragment", "https://evil.com#.aliexpress.com", errHost),
	refused("semicolon in host", "https://evil.com;.aliexpress.com/", errHost),
	refused("ampersand in host", "https://evil.com&.aliexpress.com/", errHost),
	refused("double trailing dot", "https://www.aliexpress.com../", errHost),
	refused("empty label", "https://www..aliexpress.com/", errHost),
	refused("leading dot", "https://.aliexpress.com/", errHost),
	refused("leading hyphen label", "https://-www.aliexpress.com/", errHost),
	refused("underscore label", "https://www_x.aliexpress.com/", errHost),
	refused("label too long", "https://"+strings.Repeat("a", 64)+".aliexpress.com/", errHost),

	// User info.
	refused("userinfo pointing at evil", "https://www.aliexpress.com@evil.com/", errUserInfo),
	refused("userinfo naming aliexpress", "https://evil.com@www.aliexpress.com/", errUserInfo),
	refused("user and password", "https://user:pass@www.aliexpress.com/item/"+pid+".html", errUserInfo),
	refused("port-like userinfo", "http://www.aliexpress.com:80@evil.com/", errUserInfo),
	refused("encoded slash before at", "https://www.aliexpress.com%2f@evil.com/", errUserInfo),
	refused("encoded at", "https://www.aliexpress.com%40evil.com/", errHost),
	refused("fullwidth backslash before at", "https://www.aliexpress.com＼@evil.com/", errUserInfo),
	refused("double at", "https://a@b@www.aliexpress.com/", errUserInfo),

	// Backslashes (browsers read them as slashes in http(s) URLs).
	refused("backslash before at", `https://evil.com\@www.aliexpress.com/`, errMalformed),
	refused("backslash ending host", `https://www.aliexpress.com\.evil.com/`, errMalformed),
	refused("backslash after host", `https://evil.com\www.aliexpress.com/`, errMalformed),
	refused("backslashes as slashes", `https:\\evil.com`, errMalformed),
	refused("slash backslash", `https:/\evil.com`, errMalformed),
	refused("backslash in path", `https://www.aliexpress.com/\evil.com`, errMalformed),
	refused("backslash in query", `https://www.aliexpress.com/item/`+pid+`.html?x=\`, errMalformed),
	refused("leading backslashes", `\\evil.com`, errMalformed),
	refused("slash backslash relative", `/\evil.com`, errMalformed),

	// Percent-encoding and look-alike Unicode in the host.
	refused("encoded slash in host", "https://evil.com%2f.aliexpress.com/", errHost),
	refused("encoded slashes in host", "https://evil.com%2F%2F.aliexpress.com/", errHost),
	refused("encoded null in host", "https://www.aliexpress.com%00.evil.com/", errHost),
	refused("encoded dot in host", "https://www.aliexpress%2ecom/", errHost),
	refused("double-encoded slash in host", "https://www.aliexpress.com%252f.evil.com/", errHost),
	refused("encoded ideographic full stop", "https://www.aliexpress.com%E3%80%82evil.com/", errHost),
	refused("ideographic full stop", "https://www.aliexpress.com。evil.com/", errHost),
	refused("fullwidth solidus", "https://www.aliexpress.com／evil.com/", errHost),
	refused("cyrillic a", "https://www.аliexpress.com/", errHost),
	refused("long s", "https://www.aliexpreſs.com/", errHost),
	refused("fullwidth letters", "https://ａｌｉｅｘｐｒｅｓｓ.com/", errHost),
	refused("punycode look-alike", "https://xn--liexpress-6ig.com/", errHost),
	refused("punycode subdomain", "https://xn--80ak6aa92e.aliexpress.com/", errHost),
	refused("reserved double hyphen", "https://ab--cd.aliexpress.com/", errHost),
	refused("zero-width space", "https://www.ali\u200bexpress.com/", errHost),
	refused("soft hyphen", "https://www.ali\u00adexpress.com/", errHost),

	// IP literals.
	refused("ipv4", "https://127.0.0.1/", errHost),
	refused("decimal ip", "https://2130706433/", errHost),
	refused("hex ip", "https://0x7f.0x0.0x0.0x1/", errHost),
	refused("octal ip", "https://0177.0.0.01/", errHost),
	refused("short ip", "https://127.1/", errHost),
	refused("ipv6 loopback", "https://[::1]/", errMalformed),
	refused("ipv4-mapped ipv6", "https://[::ffff:127.0.0.1]/", errMalformed),
	refused("ipv6 zone", "https://[fe80::1%25eth0]/", errMalformed),
	refused("bracketed aliexpress", "https://[www.aliexpress.com]/", errHost),

	// Ports.
	refused("other port", "https://www.aliexpress.com:8080/item/"+pid+".html", errPort),
	refused("http port on https", "https://www.aliexpress.com:80/", errPort),
	refused("https port on http", "http://www.aliexpress.com:443/", errPort),
	refused("leading zero port", "https://www.aliexpress.com:0443/", errPort),
	refused("overflowing port", "https://www.aliexpress.com:65979/", errPort),
	refused("port with letters", "https://www.aliexpress.com:443abc/", errMalformed),
	refused("two ports", "https://www.aliexpress.com:443:443/", errMalformed),

	// Schemes.
	refused("javascript", "javascript:alert(document.domain)//https://www.aliexpress.com/", errScheme),
	refused("javascript mixed case", "JaVaScRiPt:alert(1)", errScheme),
	refused("javascript with comment", "javascript://www.aliexpress.com/%0aalert(1)", errScheme),
	refused("data", "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==", errScheme),
	refused("intent", "intent://www.aliexpress.com/item/"+pid+".html#Intent;scheme=https;end", errScheme),
	refused("vbscript", "vbscript:msgbox(1)", errScheme),
	refused("file", "file:///etc/passwd", errScheme),
	refused("ftp", "ftp://www.aliexpress.com/", errScheme),
	refused("app scheme", "aliexpress://product/detail?productId="+pid, errScheme),
	refused("ws", "wss://www.aliexpress.com/", errScheme),
	refused("https without slashes", "https:evil.com", errMalformed),
	refused("https with one slash", "https:/www.aliexpress.com/item/"+pid+".html", errMalformed),
	refused("https with three slashes", "https:///www.aliexpress.com/item/"+pid+".html", errMalformed),
	refused("scheme only", "https://", errMalformed),
	refused("empty host with port", "https://:443/", errMalformed),

	// Scheme-relative and scheme-less forms.
	refused("scheme-relative", "//evil.com", errNoScheme),
	refused("scheme-relative aliexpress", "//www.aliexpress.com/item/"+pid+".html", errNoScheme),
	refused("triple slash", "///evil.com", errNoScheme),
	refused("scheme-less", "www.aliexpress.com/item/"+pid+".html", errNoScheme),
	refused("scheme-less with port", "www.aliexpress.com:443/item/"+pid+".html", errNoScheme),
	refused("scheme-less bare domain", "aliexpress.com", errNoScheme),
	refused("relative path", "/item/"+pid+".html", errNoScheme),

	// Control characters and whitespace.
	refused("crlf injection", "https://www.aliexpress.com/item/"+pid+".html\r\nLocation: https://evil.com", errMalformed),
	refused("tab in host", "https://www.aliexp\tress.com/", errMalformed),
	refused("newline in host", "https://evil.com\n.aliexpress.com/", errMalformed),
	refused("newline in scheme", "java\nscript:alert(1)", errMalformed),
	refused("null byte", "https://www.aliexpress.com\x00.evil.com/", errMalformed),
	refused("del", "https://www.aliexpress.com/\x7f", errMalformed),
	refused("space in host", "https://evil.com .aliexpress.com/", errMalformed),
	refused("leading control", "\x01https://www.aliexpress.com/", errMalformed),
	refused("trailing newline", "https://www.aliexpress.com/item/"+pid+".html\n", errMalformed),

	// Paths that other readers might take elsewhere.
	refused("encoded crlf in path", "https://www.aliexpress.com/%0d%0aSet-Cookie:x=1", errMalformed),
	refused("encoded slashes in path", "https://www.aliexpress.com/%2f%2fevil.com", errMalformed),
	refused("encoded backslash in path", "https://www.aliexpress.com/%5cevil.com", errMalformed),
	refused("encoded null in path", "https://www.aliexpress.com/%00", errMalformed),
	refused("double slash path", "https://www.aliexpress.com//evil.com", errMalformed),
	refused("dot segments", "https://www.aliexpress.com/a/../b", errMalformed),
	refused("encoded dot segments", "https://www.aliexpress.com/%2e%2e/%2E%2E/evil", errMalformed),
	refused("double-encoded slash in path", "https://www.aliexpress.com/%252f%252fevil.com", errMalformed),
	refused("broken escape", "https://www.aliexpress.com/%zz", errMalformed),
	refused("truncated escape", "https://www.aliexpress.com/a%2", errMalformed),
	refused("invalid utf-8 in path", "https://www.aliexpress.com/%ff", errMalformed),

	// AliExpress's own redirectors.
	refused("app share host, other path", "https://a.aliexpress.com/evil", errRedirector),
	refused("share code with bad characters", "https://a.aliexpress.com/_ab.cd", errRedirector),
	refused("s.click deep link", "https://s.click.aliexpress.com/deep_link.htm?dl_target_url=https%3A%2F%2Fevil.com", errRedirector),
	refused("s.click root", "https://s.click.aliexpress.com/", errRedirector),
	refused("click host", "https://click.aliexpress.com/other?url=https://evil.com", errRedirector),
	refused("star other path", "https://star.aliexpress.com/evil", errRedirector),
	refused("star to other site", "https://star.aliexpress.com/share/share.htm?redirectUrl=https%3A%2F%2Fevil.com", errHost),
	refused("star to javascript", "https://star.aliexpress.com/share/share.htm?redirectUrl=javascript:alert(1)", errScheme),
	refused("star to scheme-relative", "https://star.aliexpress.com/share/share.htm?redirectUrl=//evil.com", errNoScheme),
	refused("star without target", "https://star.aliexpress.com/share/share.htm?title=x", errUnsupported),
	refused("star broken escape", "https://star.aliexpress.com/share/share.htm?redirectUrl=%zz", errMalformed),
	refused("star nested too deep", "https://star.aliexpress.com/share/share.htm?redirectUrl="+url.QueryEscape("https://star.aliexpress.com/share/share.htm?redirectUrl="+url.QueryEscape("https://star.aliexpress.com/share/share.htm?redirectUrl="+url.QueryEscape(canon))), errNested),
	refused("share host on russian site", "https://a.aliexpress.ru/_mKLmNOp", errRedirector),
}

func TestParse(t *testing.T) {
	if len(parseTests) < 80 {
		t.Fatalf("only %d cases", len(parseTests))
	}
	names := make(map[string]bool)
	for _, tc := range parseTests {
		if names[tc.name] {
			t.Fatalf("duplicate case name %q", tc.name)
		}
		names[tc.name] = true
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse(tc.in)
			if tc.err != nil {
				if err != tc.err {
					t.Fatalf("Parse(%q) = %+v, %v; want error %q", tc.in, got, err, tc.err)
				}
				if got != (Page{}) {
					t.Errorf("Parse(%q) = %+v with an error, want the zero Page", tc.in, got)
				}
				return
			}
			want := Page{Kind: tc.kind, ID: tc.id, SKU: tc.sku, URL: tc.url}
			if err != nil || got != want {
				t.Fatalf("Parse(%q) = %+v, %v; want %+v", tc.in, got, err, want)
			}
			again, err := Parse(got.URL)
			if err != nil || again != got {
				t.Errorf("Parse(%q) = %+v, %v; want it unchanged", got.URL, again, err)
			}
			if err := checkAccepted(got); err != "" {
				t.Errorf("Parse(%q) = %+v: %s", tc.in, got, err)
			}
		})
	}
}

func TestTrimPasted(t *testing.T) {
	tests := []struct {
		name, in, url, removed string
	}{
		{"nothing to trim", canon, canon, ""},
		{"spaces only", "  " + canon + " ", canon, ""},
		{"comma", canon + ",", canon, ","},
		{"several", canon + ` ").`, canon, `").`},
		{"typographic", canon + "\u201d\u3002", canon, "\u201d\u3002"},
		{"balanced parenthesis kept", canon + "?q=(a)", canon + "?q=(a)", ""},
		{"one of two closing parentheses", canon + "?q=(a))", canon + "?q=(a)", ")"},
		{"balanced bracket kept", canon + "?q=[a]", canon + "?q=[a]", ""},
		{"paired quotes kept", canon + `?q="a"`, canon + `?q="a"`, ""},
		{"odd quote cut", canon + `?q="a""`, canon + `?q="a"`, `"`},
		{"host never cut", "https://www.aliexpress.com,", "https://www.aliexpress.com,", ""},
		{"space in the host", "http://ALIEXPRESS.COM ?", "http://ALIEXPRESS.COM ?", ""},
		{"question mark after host", "https://www.aliexpress.com?", "https://www.aliexpress.com", "?"},
		{"slash kept", "https://www.aliexpress.com/.", "https://www.aliexpress.com/", "."},
		{"no scheme", "www.aliexpress.com/item/1.html,", "www.aliexpress.com/item/1.html,", ""},
		{"letter after punctuation", canon + ",x", canon + ",x", ""},
		{"newline is not punctuation", canon + ",\n", canon + ",\n", ""},
		{"invalid utf-8 kept", canon + "\xff", canon + "\xff", ""},
		{"empty", "", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			url, removed := TrimPasted(tc.in)
			if url != tc.url || removed != tc.removed {
				t.Errorf("TrimPasted(%q) = %q, %q; want %q, %q", tc.in, url, removed, tc.url, tc.removed)
			}
		})
	}
	in := canon + "\u201d).,"
	if n := testing.AllocsPerRun(100, func() { _, _ = TrimPasted(in) }); n != 0 {
		t.Errorf("TrimPasted allocates %v times, want 0", n)
	}
}

func TestErrorMessages(t *testing.T) {
	_, err := Parse("https://evil.com/")
	var e *Error
	if !errors.As(err, &e) || err.Error() != "not an AliExpress URL" {
		t.Fatalf(`Parse("https://evil.com/") error = %v, want *Error "not an AliExpress URL"`, err)
	}
	for _, e := range []*Error{errEmpty, errTooLong, errMalformed, errNoScheme, errScheme, errUserInfo, errPort,
		errHost, errUnsupported, errNested, errRedirector, errCarriesURL, errShareInvalid} {
		if r := e.Error(); len(r) > 70 || strings.ContainsAny(r, "\n\t") {
			t.Errorf("reason %q: want a short plain sentence", r)
		}
	}
}

func TestIsAliExpressHost(t *testing.T) {
	tests := []struct {
		host string
		want bool
	}{
		{"aliexpress.com", true},
		{"www.aliexpress.com", true},
		{"WWW.ALIEXPRESS.COM", true},
		{"www.aliexpress.com.", true},
		{"s.click.aliexpress.com", true},
		{"aliexpress.us", true},
		{"www.aliexpress.us", true},
		{"aliexpress.ru", true},
		{"m.aliexpress.ru", true},
		{"", false},
		{".", false},
		{"aliexpress.com..", false},
		{"evilaliexpress.com", false},
		{"aliexpress.com.evil.com", false},
		{"aliexpress.co", false},
		{"aliexpress.com:443", false},
		{"127.0.0.1", false},
		{"[::1]", false},
		{"xn--80ak6aa92e.aliexpress.com", false},
		{"www.аliexpress.com", false},
		{"www%2ealiexpress.com", false},
	}
	for _, tc := range tests {
		t.Run(tc.host, func(t *testing.T) {
			if got := IsAliExpressHost(tc.host); got != tc.want {
				t.Errorf("IsAliExpressHost(%q) = %v, want %v", tc.host, got, tc.want)
			}
		})
	}
}

func TestCheckDestination(t *testing.T) {
	tests := []struct {
		name string
		in   string
		err  *Error
	}{
		{"canonical product", canonS, nil},
		{"canonical other", "https://www.aliexpress.com/w/wholesale-%E6%89%8B%E6%9C%BA.html?SearchText=phone+case", nil},
		{"affiliate short link", "https://s.click.aliexpress.com/e/_DdwQn3v", nil},
		{"affiliate short link with query", "https://s.click.aliexpress.com/e/_DdwQn3v?bz=300&aff_trace_key=a-b", nil},
		{"affiliate product link", canon + "?aff_fcid=abc&aff_fsk=_DmXYZ&aff_platform=api-new-link-generate&sk=_DmXYZ&aff_trace_key=abc-def&terminal_id=0f1e", nil},
		{"deep link to product", "https://s.click.aliexpress.com/deep_link.htm?aff_short_key=abc&dl_target_url=" + url.QueryEscape(canon), nil},
		{"deep link to other site", "https://s.click.aliexpress.com/deep_link.htm?aff_short_key=abc&dl_target_url=https%3A%2F%2Fevil.com", errCarriesURL},
		{"deep link to share link", "https://s.click.aliexpress.com/deep_link.htm?dl_target_url=" + url.QueryEscape("https://a.aliexpress.com/_x"), errCarriesURL},
		{"s.click other path", "https://s.click.aliexpress.com/other", errRedirector},
		{"app share link", "https://a.aliexpress.com/_mKLmNOp", errRedirector},
		{"star wrapper", "https://star.aliexpress.com/share/share.htm?redirectUrl=" + url.QueryEscape(canon), errRedirector},
		{"click host", "https://click.aliexpress.com/e/_x", errRedirector},
		{"carries a url", canon + "?redirectUrl=https%3A%2F%2Fevil.com", errCarriesURL},
		{"carries a scheme-relative url", canon + "?next=//evil.com", errCarriesURL},
		{"carries javascript", canon + "?x=javascript:alert(1)", errCarriesURL},
		{"other site", "https://evil.com/", errHost},
		{"user info", "https://a@www.aliexpress.com/", errUserInfo},
		{"other port", "https://www.aliexpress.com:8443/", errPort},
		{"fragment", canon + "#x", errMalformed},
		{"non-ascii", "https://www.aliexpress.com/w/手机", errMalformed},
		{"leading space", " " + canon, errMalformed},
		{"crlf", canon + "\r\nSet-Cookie: a=b", errMalformed},
		{"encoded slashes", "https://www.aliexpress.com/%2f%2fevil.com", errMalformed},
		{"quote", canon + `?a="`, errMalformed},
		{"broken escape in query", canon + "?a=%zz", errMalformed},
		{"empty", "", errEmpty},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckDestination(tc.in)
			if tc.err == nil && err != nil || tc.err != nil && err != tc.err {
				t.Errorf("CheckDestination(%q) = %v, want %v", tc.in, err, tc.err)
			}
		})
	}
}

func TestCheckDestinationAcceptsParsed(t *testing.T) {
	for _, tc := range parseTests {
		if tc.err != nil || tc.kind == Share {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			p, err := Parse(tc.in)
			if err != nil {
				t.Fatalf("Parse(%q) = %v", tc.in, err)
			}
			if err := CheckDestination(p.URL); err != nil {
				t.Errorf("CheckDestination(%q) = %v, want nil", p.URL, err)
			}
		})
	}
}

// whatwgRead reads s roughly as a WHATWG URL parser reads an http(s) URL: surrounding C0 controls and spaces are
// stripped, tabs and newlines removed anywhere, and backslashes taken for slashes. A '%' that starts no escape is
// a literal '%' to WHATWG, where url.Parse fails, so it is escaped first.
func whatwgRead(s string) (*url.URL, error) {
	s = strings.TrimFunc(s, func(r rune) bool { return r <= ' ' })
	s = strings.NewReplacer("\t", "", "\n", "", "\r", "", `\`, "/").Replace(s)
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && (i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2])) {
			b.WriteString("%25")
			continue
		}
		b.WriteByte(s[i])
	}
	return url.Parse(b.String())
}

// checkAccepted returns what is wrong with an accepted page's URL, or "".
func checkAccepted(p Page) string {
	if p.Kind < Product || p.Kind > Share {
		return "invalid kind"
	}
	for i := 0; i < len(p.URL); i++ {
		if c := p.URL[i]; c <= ' ' || c >= 0x7f || c == '\\' || c == '#' || c == '"' || c == '<' || c == '>' {
			return "URL holds a byte that should have been escaped"
		}
	}
	u, err := whatwgRead(p.URL)
	switch {
	case err != nil:
		return "URL does not parse: " + err.Error()
	case u.Scheme != "https":
		return "scheme " + u.Scheme
	case u.User != nil:
		return "user info"
	case u.Port() != "":
		return "port"
	case !IsAliExpressHost(u.Hostname()):
		return "host " + u.Hostname()
	case p.Kind == Share && !strings.Contains(p.URL, p.ID):
		return "share code not in URL"
	case p.Kind == Product && !strings.Contains(p.URL, "/item/"+p.ID+".html"):
		return "product id not in URL"
	case p.Kind != Share && CheckDestination(p.URL) != nil:
		return "CheckDestination refuses it: " + CheckDestination(p.URL).Error()
	}
	return ""
}

func FuzzParse(f *testing.F) {
	for _, tc := range parseTests {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, in string) {
		p, err := Parse(in)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || p != (Page{}) {
				t.Fatalf("Parse(%q) = %+v, %v; want the zero Page and an *Error", in, p, err)
			}
			return
		}
		if msg := checkAccepted(p); msg != "" {
			t.Fatalf("Parse(%q) = %+v: %s", in, p, msg)
		}
		// The input itself, as a browser reads it, must be on AliExpress too.
		u, err := whatwgRead(in)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.User != nil || !IsAliExpressHost(u.Hostname()) {
			t.Fatalf("Parse(%q) = %+v, but a browser reads the input as %v, %v", in, p, u, err)
		}
		again, err := Parse(p.URL)
		if err != nil || again != p {
			t.Fatalf("Parse(%q) = %+v; Parse(%q) = %+v, %v, want it unchanged", in, p, p.URL, again, err)
		}
		// A short key is all digits, and gives back the canonical URL it came from, so that it
		// names no other page; a product's is its id.
		if k := ShortKey(p.URL); k != p.URL {
			if strings.Trim(k, "0123456789") != "" || p.URL != originCom+"/item/"+k+".html" || (p.Kind == Product && k != p.ID) {
				t.Fatalf("Parse(%q) = %+v; ShortKey(%q) = %q", in, p, p.URL, k)
			}
		}
	})
}

func TestShortKey(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"https://www.aliexpress.com/item/1005001234567890.html", "1005001234567890"},
		{"https://www.aliexpress.com/item/7.html", "7"},
		// Other sites, a SKU, and anything not a canonical product URL keep their whole key.
		{"https://www.aliexpress.us/item/1005001234567890.html", "https://www.aliexpress.us/item/1005001234567890.html"},
		{"https://aliexpress.ru/item/1005001234567890.html", "https://aliexpress.ru/item/1005001234567890.html"},
		{"https://www.aliexpress.com/item/1005001234567890.html?sku_id=12", "https://www.aliexpress.com/item/1005001234567890.html?sku_id=12"},
		{"https://www.aliexpress.com/item/.html", "https://www.aliexpress.com/item/.html"},
		{"https://www.aliexpress.com/item/10050a.html", "https://www.aliexpress.com/item/10050a.html"},
		{"https://www.aliexpress.com/item/1005001234567890", "https://www.aliexpress.com/item/1005001234567890"},
		{"https://www.aliexpress.com/store/1102", "https://www.aliexpress.com/store/1102"},
		{"1005001234567890", "1005001234567890"},
		{"", ""},
	} {
		if got := ShortKey(tc.in); got != tc.want {
			t.Errorf("ShortKey(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	key := "https://www.aliexpress.com/item/1005001234567890.html"
	if n := testing.AllocsPerRun(100, func() { _ = ShortKey(key) }); n != 0 {
		t.Errorf("ShortKey allocates %v times, want 0", n)
	}
}

func BenchmarkParseProduct(b *testing.B) {
	const in = "https://m.aliexpress.com/item/1005001234567890.html?spm=a2g0o.home.0.0&gatewayAdapt=glo2usa&sku_id=12000012345678901"
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(in); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseRefused(b *testing.B) {
	const in = "https://www.aliexpress.com.evil.com/item/1005001234567890.html"
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(in); err == nil {
			b.Fatal("accepted")
		}
	}
}

func BenchmarkParseOther(b *testing.B) {
	const in = "https://www.aliexpress.com/w/wholesale-phone-case.html?spm=a2g0o&SearchText=phone+case&catId=0&page=2"
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(in); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCheckDestination(b *testing.B) {
	const in = "https://s.click.aliexpress.com/e/_DdwQn3v"
	b.ReportAllocs()
	for b.Loop() {
		if err := CheckDestination(in); err != nil {
			b.Fatal(err)
		}
	}
}
