// Package shortid makes and checks the ids of short links: random ids, custom slugs and product codes.
//
// Three forms share one namespace, the first path segment of a short URL, and are told apart by their form:
//
//   - Random ids, made by [New], are exactly 8 base62 characters ([0-9A-Za-z]). Eight characters give
//     62^8 ≈ 2.2e14 values: with ten million links stored, one new id collides with an existing one with
//     probability about 1e7/62^8 ≈ 5e-8. The store claims an id with an atomic set-if-absent and asks
//     [New] again on a collision, so a collision costs one retry, never an overwritten link.
//   - Product codes, made by [Product], encode an AliExpress product id so that the link resolves from its
//     id alone, even with the store empty. A code is the product id in base62, left-padded with '0' to at
//     least 8 digits, followed by one Luhn mod 62 check character: 9 to 12 characters, never 8, so a
//     random id is never a product code. The check character catches every single mistyped character and
//     almost every swap of two neighbouring characters: a mistyped code is not another product.
//   - Custom slugs, checked by [CheckSlug], are 3 to 64 characters of [A-Za-z0-9_-], not a reserved word
//     and not a valid product code. Slugs are case-sensitive, like random ids.
package shortid

import (
	"crypto/rand"
	"errors"
	"fmt"
	"strconv"
)

// alphabet is base62 in ASCII order, so a digit's value is its position here.
const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

const (
	// RandomLen is the length of every id made by New.
	RandomLen = 8
	// MinSlugLen and MaxSlugLen bound a custom slug's length.
	MinSlugLen, MaxSlugLen = 3, 64
	// MinProductLen and MaxProductLen bound a product code's length: 8 padded digits plus the check
	// character, up to 11 digits (the largest uint64) plus the check character.
	MinProductLen, MaxProductLen = productDigits + 1, 12

	productDigits = 8 // a product code's number part is padded to at least this many base62 digits
)

// digitValue maps an ASCII byte to its base62 value, or to 0xff for bytes outside the alphabet.
var digitValue = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for i := range len(alphabet) {
		t[alphabet[i]] = byte(i)
	}
	return t
}()

// New returns a fresh random id: RandomLen base62 characters drawn uniformly from crypto/rand (never a
// reserved word). The caller stores it with set-if-absent and calls New again if it was taken. It is safe
// for concurrent use.
func New() (string, error) {
	for {
		id, err := newRandom()
		if err != nil || !isReserved(id) {
			return id, err
		}
	}
}

// newRandom returns RandomLen uniformly random base62 characters.
func newRandom() (string, error) {
	var out [RandomLen]byte
	var buf [2 * RandomLen]byte
	n := 0
	for n < RandomLen {
		if _, err := rand.Read(buf[:]); err != nil {
			return "", fmt.Errorf("read random bytes: %w", err)
		}
		for _, b := range buf {
			// Rejection sampling: 6 bits give 0..63; the 2 values past 61 are thrown away, so every
			// character is equally likely (a plain b%62 would favour the first characters).
			if v := b & 63; v < 62 {
				out[n] = alphabet[v]
				n++
				if n == RandomLen {
					break
				}
			}
		}
	}
	return string(out[:]), nil
}

// Kind is the form of an id, as told by Classify.
type Kind uint8

const (
	// KindInvalid is no id this service can hold: a request for it is a 404 without a lookup.
	KindInvalid Kind = iota
	// KindRandom is RandomLen base62 characters: the form New makes. A custom slug of that exact form
	// is classified here too; both live in the store.
	KindRandom
	// KindProduct is a product code with a correct check character; ParseProduct returns its product id.
	KindProduct
	// KindSlug is any other id that could be a stored custom slug.
	KindSlug
)

// String returns the kind's name, for logs and tests.
func (k Kind) String() string {
	switch k {
	case KindRandom:
		return "random"
	case KindProduct:
		return "product"
	case KindSlug:
		return "slug"
	default:
		return "invalid"
	}
}

// Classify returns the form of id. It does not allocate and is safe for concurrent use. An id that is
// KindRandom or KindSlug may still be unknown to the store; KindProduct needs no store at all.
func Classify(id string) Kind {
	if len(id) < MinSlugLen || len(id) > MaxSlugLen {
		return KindInvalid
	}
	alnum := true
	for i := range len(id) {
		c := id[i]
		if digitValue[c] != 0xff {
			continue
		}
		if c != '-' && c != '_' {
			return KindInvalid
		}
		alnum = false
	}
	if alnum {
		if _, ok := decodeProduct(id); ok {
			return KindProduct
		}
	}
	if isReserved(id) {
		return KindInvalid
	}
	if alnum && len(id) == RandomLen {
		return KindRandom
	}
	return KindSlug
}

// Valid reports whether id has the form of a random id, a product code or a custom slug, that is
// whether Classify(id) != KindInvalid. It is the cheap check for the redirect path: it does not allocate.
func Valid(id string) bool {
	return Classify(id) != KindInvalid
}

// reserved are the first path segments that routes, browsers and crawlers use. They are compared
// case-insensitively; some (with '.') could never pass the charset and are listed so the reason given
// is the clearer "reserved".
var reserved = [...]string{
	"go", "api", "healthz", "readyz", "livez", "metrics", "debug", "admin", "static", "assets", "public",
	"favicon.ico", "robots.txt", "sitemap.xml", "qr", "console", "login", "logout", "signin", "signup",
	"auth", "oauth", "dashboard", "settings", "account", "links", "link", "new", "help", "about", "docs",
	"status", "www", "app", "index", "home", "well-known",
}

// isReserved reports whether s equals a reserved word, ignoring ASCII case, without allocating.
func isReserved(s string) bool {
	for _, w := range reserved {
		if len(w) == len(s) && equalFoldASCII(w, s) {
			return true
		}
	}
	return false
}

// equalFoldASCII compares two strings of equal length ignoring ASCII case; w is lower case.
func equalFoldASCII(w, s string) bool {
	for i := range len(w) {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != w[i] {
			return false
		}
	}
	return true
}

// CheckSlug returns nil if s is acceptable as a custom slug, or an error whose message is a short reason
// fit to show the person who chose it (for a 400 answer). A slug is 3 to 64 characters of letters, digits,
// '-' and '_', is not a reserved word (compared ignoring case) and is not a valid product code. A nil
// answer does not mean the slug is free: the store decides that.
func CheckSlug(s string) error {
	if isReserved(s) {
		return fmt.Errorf("slug %q is reserved", s)
	}
	if len(s) < MinSlugLen || len(s) > MaxSlugLen {
		return fmt.Errorf("slug must be %d to %d characters long", MinSlugLen, MaxSlugLen)
	}
	for i := range len(s) {
		if c := s[i]; digitValue[c] == 0xff && c != '-' && c != '_' {
			return errors.New("slug may only contain letters, digits, '-' and '_'")
		}
	}
	if _, ok := decodeProduct(s); ok {
		return errors.New("slug has the form of a product code; add a '-' or choose another")
	}
	return nil
}

// Product returns the product code for an AliExpress product id given in decimal (1 to 20 digits, no
// sign, no leading zero, greater than zero and at most the largest uint64). The code is reversible:
// ParseProduct(Product(p)) returns p. It is safe for concurrent use.
func Product(productID string) (string, error) {
	if len(productID) == 0 || len(productID) > 20 {
		return "", fmt.Errorf("product id must be 1 to 20 digits, got %d", len(productID))
	}
	if productID[0] == '0' {
		return "", errors.New("product id must be a positive number without leading zeros")
	}
	for i := range len(productID) {
		if c := productID[i]; c < '0' || c > '9' {
			return "", errors.New("product id must be decimal digits")
		}
	}
	n, err := strconv.ParseUint(productID, 10, 64)
	if err != nil {
		return "", errors.New("product id is too large")
	}
	var buf [MaxProductLen]byte
	return string(encodeProduct(&buf, n)), nil
}

// encodeProduct writes the product code of n into the end of buf and returns that part of it.
func encodeProduct(buf *[MaxProductLen]byte, n uint64) []byte {
	i := MaxProductLen - 1 // the last byte is the check character
	for n > 0 || MaxProductLen-1-i < productDigits {
		i--
		buf[i] = alphabet[n%62]
		n /= 62
	}
	code := buf[i:]
	code[len(code)-1] = alphabet[luhnCheck(code[:len(code)-1])]
	return code
}

// ParseProduct returns the decimal product id that the product code id stands for. ok is false when id
// is not a product code: the wrong length or characters, a check character that does not match (a
// mistyped code), or a number that Product would not have written (such as one padded with extra zeros).
// It is safe for concurrent use.
func ParseProduct(id string) (productID string, ok bool) {
	n, ok := decodeProduct(id)
	if !ok {
		return "", false
	}
	return strconv.FormatUint(n, 10), true
}

// decodeProduct is ParseProduct without the decimal formatting; it does not allocate.
func decodeProduct(id string) (uint64, bool) {
	if len(id) < MinProductLen || len(id) > MaxProductLen {
		return 0, false
	}
	digits := id[:len(id)-1]
	// Canonical form only: past the minimum width, the number has no leading zero; so each product has
	// exactly one code.
	if len(digits) > productDigits && digits[0] == '0' {
		return 0, false
	}
	var n uint64
	for i := range len(digits) {
		v := digitValue[digits[i]]
		if v == 0xff {
			return 0, false
		}
		if n > (^uint64(0)-uint64(v))/62 {
			return 0, false // past the largest uint64
		}
		n = n*62 + uint64(v)
	}
	if n == 0 {
		return 0, false
	}
	if c := digitValue[id[len(id)-1]]; c == 0xff || c != luhnCheck(digits) {
		return 0, false
	}
	return n, true
}

// luhnCheck returns the Luhn mod 62 check digit for digits (base62 characters, all valid), the value
// that makes the Luhn sum of digits followed by it divisible by 62. Doubling modulo 62 (a value past 61
// is reduced by 61) is a permutation of 0..61, so any single changed character changes the sum.
func luhnCheck[S ~string | ~[]byte](digits S) byte {
	sum, double := 0, true
	for i := len(digits) - 1; i >= 0; i-- {
		v := int(digitValue[digits[i]])
		if double {
			v *= 2
			v = v/62 + v%62
		}
		sum += v
		double = !double
	}
	return byte((62 - sum%62) % 62)
}
