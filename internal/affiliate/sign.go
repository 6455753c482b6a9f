package affiliate

import (
	"crypto/hmac"
	"crypto/sha256"
	"net/url"
	"slices"
)

// Sign returns the platform's signature of params for the /sync endpoint: every parameter but "sign",
// sorted by name in byte order, written as name followed by its first value with no separators, run
// through HMAC-SHA256 keyed with secret, as upper-case hex. Values are signed raw, before any
// URL encoding. Sign is safe for concurrent use.
func Sign(secret string, params url.Values) string {
	keys := make([]string, 0, len(params))
	n := 0
	for k, v := range params {
		if k == "sign" {
			continue
		}
		keys = append(keys, k)
		n += len(k)
		if len(v) > 0 {
			n += len(v[0])
		}
	}
	slices.Sort(keys)
	buf := make([]byte, 0, n)
	for _, k := range keys {
		buf = append(buf, k...)
		if v := params[k]; len(v) > 0 {
			buf = append(buf, v[0]...)
		}
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(buf)
	var sum [sha256.Size]byte
	return upperHex(mac.Sum(sum[:0]))
}

func upperHex(b []byte) string {
	const digits = "0123456789ABCDEF"
	out := make([]byte, 2*len(b))
	for i, c := range b {
		out[2*i], out[2*i+1] = digits[c>>4], digits[c&0x0f]
	}
	return string(out)
}
