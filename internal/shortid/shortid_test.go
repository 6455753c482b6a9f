package shortid

import (
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
)

func TestNew(t *testing.T) {
	seen := make(map[string]bool)
	var counts [62]int
	const n = 20000
	for range n {
		id, err := New()
		if err != nil {
			t.Fatalf("New() error: %v", err)
		}
		if len(id) != RandomLen {
			t.Fatalf("New() = %q, want %d characters", id, RandomLen)
		}
		if k := Classify(id); k != KindRandom {
			t.Fatalf("Classify(New() = %q) = %v, want %v", id, k, KindRandom)
		}
		if _, ok := ParseProduct(id); ok {
			t.Fatalf("ParseProduct(New() = %q) ok, want a random id never to be a product code", id)
		}
		if seen[id] {
			t.Fatalf("New() = %q twice in %d calls", id, n)
		}
		seen[id] = true
		for i := range len(id) {
			counts[strings.IndexByte(alphabet, id[i])]++
		}
	}
	// Every character appears, and none is far from its share (n*8/62 ≈ 2580; a modulo bias of 64 onto
	// 62 would push the first two to about twice that).
	want := float64(n*RandomLen) / 62
	for i, c := range counts {
		if float64(c) < want*0.8 || float64(c) > want*1.2 {
			t.Errorf("character %q appeared %d times in %d ids, want about %.0f", alphabet[i], c, n, want)
		}
	}
}

func TestProductRoundTrip(t *testing.T) {
	ids := []string{
		"1", "2", "61", "62", "3843", "3844", "1005001234567890", "1005006543210987", "32812345678",
		"4000123456789", "218340105584895", "218340105584896", "999999999999999999",
		"9223372036854775807", "9223372036854775808", "18446744073709551615",
	}
	for v := uint64(1); v < 1<<63; v = v*3 + 7 {
		ids = append(ids, strconv.FormatUint(v, 10))
	}
	for _, pid := range ids {
		code, err := Product(pid)
		if err != nil {
			t.Errorf("Product(%q) error: %v", pid, err)
			continue
		}
		if len(code) < MinProductLen || len(code) > MaxProductLen {
			t.Errorf("Product(%q) = %q, %d characters, want %d..%d", pid, code, len(code), MinProductLen, MaxProductLen)
		}
		got, ok := ParseProduct(code)
		if !ok || got != pid {
			t.Errorf("ParseProduct(Product(%q) = %q) = %q, %v, want %q, true", pid, code, got, ok, pid)
		}
		if k := Classify(code); k != KindProduct {
			t.Errorf("Classify(%q) = %v, want %v", code, k, KindProduct)
		}
		if err := CheckSlug(code); err == nil {
			t.Errorf("CheckSlug(%q) = nil, want a product code refused as a slug", code)
		}
	}
}

func TestProductKnown(t *testing.T) {
	// Pinned codes: a printed code must keep resolving, so the encoding can never change.
	tests := []struct {
		pid, code string
	}{
		{"1", "00000001y"},
		{"1005001234567890", "4bNbq4b6AY"},
		{"32812345678", "00ZobG1ur"},
		{"18446744073709551615", "LygHa16AHYFa"},
	}
	for _, tc := range tests {
		t.Run(tc.pid, func(t *testing.T) {
			got, err := Product(tc.pid)
			if err != nil {
				t.Fatalf("Product(%q) error: %v", tc.pid, err)
			}
			if got != tc.code {
				t.Errorf("Product(%q) = %q, want %q", tc.pid, got, tc.code)
			}
		})
	}
}

// sampleCodes returns product codes of many lengths for the mistyping tests.
func sampleCodes(t *testing.T) []string {
	t.Helper()
	var codes []string
	for _, pid := range []string{"1", "77", "32812345678", "4000123456789", "1005001234567890", "1005006543210987",
		"218340105584896", "999999999999999999", "18446744073709551615"} {
		code, err := Product(pid)
		if err != nil {
			t.Fatalf("Product(%q) error: %v", pid, err)
		}
		codes = append(codes, code)
	}
	return codes
}

func TestProductSubstitutionRejected(t *testing.T) {
	for _, code := range sampleCodes(t) {
		for i := range len(code) {
			for c := range 256 {
				if byte(c) == code[i] {
					continue
				}
				typo := code[:i] + string(rune(c)) + code[i+1:]
				if c >= 0x80 {
					typo = code[:i] + string([]byte{byte(c)}) + code[i+1:]
				}
				if pid, ok := ParseProduct(typo); ok {
					t.Errorf("ParseProduct(%q) = %q, true (one character off %q), want false", typo, pid, code)
				}
			}
		}
	}
}

func TestProductTranspositionMostlyRejected(t *testing.T) {
	// Luhn mod 62 misses a swap of neighbouring characters only for a few pairs of values (such as the
	// pair '0' and 'z', like 09 and 90 in decimal Luhn). Over all swaps of neighbouring distinct
	// characters in many codes, almost all must be caught.
	swaps, missed := 0, 0
	r := rand.New(rand.NewPCG(1, 2))
	for range 5000 {
		v := r.Uint64() >> r.UintN(60) // ids of every length
		if v == 0 {
			continue
		}
		code, err := Product(strconv.FormatUint(v, 10))
		if err != nil {
			t.Fatalf("Product(%d) error: %v", v, err)
		}
		for i := 0; i+1 < len(code); i++ {
			if code[i] == code[i+1] {
				continue
			}
			b := []byte(code)
			b[i], b[i+1] = b[i+1], b[i]
			swaps++
			if _, ok := ParseProduct(string(b)); ok {
				missed++
			}
		}
	}
	if swaps < 20000 {
		t.Fatalf("only %d swaps tried, want a larger sample", swaps)
	}
	if rate := float64(missed) / float64(swaps); rate > 0.01 {
		t.Errorf("%d of %d neighbour swaps still parse as product codes (%.1f%%), want at most 1%%", missed, swaps, 100*rate)
	}
	t.Logf("%d of %d neighbour swaps undetected", missed, swaps)
}

func TestProductErrors(t *testing.T) {
	tests := []struct {
		name, pid string
	}{
		{"empty", ""},
		{"zero", "0"},
		{"leading zero", "0123"},
		{"sign", "+123"},
		{"negative", "-123"},
		{"letters", "12a4"},
		{"space", " 123"},
		{"too large", "18446744073709551616"},
		{"21 digits", "100000000000000000000"},
		{"unicode digit", "١٢٣"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got, err := Product(tc.pid); err == nil {
				t.Errorf("Product(%q) = %q, nil, want an error", tc.pid, got)
			}
		})
	}
}

func TestParseProductRejects(t *testing.T) {
	good, err := Product("1005001234567890")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, id string
	}{
		{"empty", ""},
		{"random id length", "4bNbq4b6"},
		{"too short", "0000001y"},
		{"too long", "0" + good + "0"},
		{"extra leading zero", "0" + good[:len(good)-1] + "Y"},
		{"zero", "00000000" + luhnString("00000000")},
		{"past uint64", "LygHa16AHYG" + luhnString("LygHa16AHYG")},
		{"largest 11 digits", "zzzzzzzzzzz" + luhnString("zzzzzzzzzzz")},
		{"hyphen", "4bNbq-b6AY"},
		{"underscore", "4bNbq_b6AY"},
		{"non-ASCII", "4bNbq\xc3b6AY"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got, ok := ParseProduct(tc.id); ok {
				t.Errorf("ParseProduct(%q) = %q, true, want false", tc.id, got)
			}
		})
	}
}

// luhnString returns the check character for digits, to build codes with a correct check character but
// another defect.
func luhnString(digits string) string {
	return string(alphabet[luhnCheck(digits)])
}

func TestClassify(t *testing.T) {
	tests := []struct {
		id   string
		want Kind
	}{
		{"aZ3kP9qX", KindRandom},
		{"00000000", KindRandom},
		{"4bNbq4b6AY", KindProduct},
		{"00000001y", KindProduct},
		{"LygHa16AHYFa", KindProduct},
		{"4bNbq4b6AZ", KindSlug}, // a mistyped product code: a store lookup, then 404
		{"summer-sale", KindSlug},
		{"my_shop", KindSlug},
		{"abc", KindSlug},
		{"aZ3kP9q", KindSlug},
		{"aZ3kP9qX-", KindSlug},
		{strings.Repeat("a", 64), KindSlug},
		{strings.Repeat("a", 65), KindInvalid},
		{"ab", KindInvalid},
		{"", KindInvalid},
		{"go", KindInvalid},
		{"api", KindInvalid},
		{"API", KindInvalid},
		{"healthz", KindInvalid},
		{"Settings", KindInvalid},
		{"favicon.ico", KindInvalid},
		{"robots.txt", KindInvalid},
		{"a.b.c", KindInvalid},
		{"abc/def", KindInvalid},
		{"abc def", KindInvalid},
		{"abc%20", KindInvalid},
		{"caf\u00e9", KindInvalid},
		{"abc\x00", KindInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.id, func(t *testing.T) {
			if got := Classify(tc.id); got != tc.want {
				t.Errorf("Classify(%q) = %v, want %v", tc.id, got, tc.want)
			}
			if got, want := Valid(tc.id), tc.want != KindInvalid; got != want {
				t.Errorf("Valid(%q) = %v, want %v", tc.id, got, want)
			}
		})
	}
}

func TestCheckSlug(t *testing.T) {
	tests := []struct {
		slug    string
		wantErr string // a part of the error's message; empty: accepted
	}{
		{"summer-sale", ""},
		{"my_shop_2024", ""},
		{"abc", ""},
		{"ABC", ""},
		{"aZ3kP9qX", ""},
		{"4bNbq4b6AZ", ""}, // product form with a wrong check character
		{strings.Repeat("x", 64), ""},
		{"---", ""},
		{"ab", "3 to 64 characters"},
		{"", "3 to 64 characters"},
		{strings.Repeat("x", 65), "3 to 64 characters"},
		{"go", "reserved"},
		{"Go", "reserved"},
		{"api", "reserved"},
		{"Healthz", "reserved"},
		{"READYZ", "reserved"},
		{"metrics", "reserved"},
		{"admin", "reserved"},
		{"static", "reserved"},
		{"favicon.ico", "reserved"},
		{"robots.txt", "reserved"},
		{"assets", "reserved"},
		{"qr", "reserved"},
		{"console", "reserved"},
		{"login", "reserved"},
		{"summer sale", "letters, digits"},
		{"a/b/c", "letters, digits"},
		{"sale.html", "letters, digits"},
		{"caf\u00e9", "letters, digits"},
		{"sale%20", "letters, digits"},
		{"4bNbq4b6AY", "product code"},
		{"00000001y", "product code"},
	}
	for _, tc := range tests {
		t.Run(tc.slug, func(t *testing.T) {
			err := CheckSlug(tc.slug)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("CheckSlug(%q) = %v, want nil", tc.slug, err)
			case tc.wantErr != "" && err == nil:
				t.Errorf("CheckSlug(%q) = nil, want an error about %q", tc.slug, tc.wantErr)
			case err != nil && !strings.Contains(err.Error(), tc.wantErr):
				t.Errorf("CheckSlug(%q) = %v, want an error about %q", tc.slug, err, tc.wantErr)
			}
			if err == nil {
				if k := Classify(tc.slug); k != KindSlug && k != KindRandom {
					t.Errorf("Classify(%q) = %v for an accepted slug, want %v or %v", tc.slug, k, KindSlug, KindRandom)
				}
			}
		})
	}
}

func TestReservedAreLowerCase(t *testing.T) {
	for _, w := range reserved {
		if w != strings.ToLower(w) {
			t.Errorf("reserved word %q is not lower case; isReserved compares against lower case", w)
		}
	}
}

func FuzzCheckSlug(f *testing.F) {
	for _, s := range []string{"summer-sale", "go", "API", "abc", "4bNbq4b6AY", "a b", "caf\u00e9", strings.Repeat("z", 65)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		err := CheckSlug(s)
		k := Classify(s)
		if err != nil {
			return
		}
		if len(s) < MinSlugLen || len(s) > MaxSlugLen {
			t.Fatalf("CheckSlug(%q) = nil for %d characters, want %d..%d", s, len(s), MinSlugLen, MaxSlugLen)
		}
		for _, r := range s {
			if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '-' || r == '_') {
				t.Fatalf("CheckSlug(%q) = nil with character %q, want an error", s, r)
			}
		}
		if isReserved(strings.ToLower(s)) {
			t.Fatalf("CheckSlug(%q) = nil for a reserved word", s)
		}
		if pid, ok := ParseProduct(s); ok {
			t.Fatalf("CheckSlug(%q) = nil, but it is the product code of %s", s, pid)
		}
		if k != KindSlug && k != KindRandom {
			t.Fatalf("Classify(%q) = %v for an accepted slug, want %v or %v", s, k, KindSlug, KindRandom)
		}
	})
}

func FuzzParseProduct(f *testing.F) {
	for _, s := range []string{"4bNbq4b6AY", "00000001y", "LygHa16AHYFa", "zzzzzzzzzzzz", "000000000", "aZ3kP9qX"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		pid, ok := ParseProduct(id)
		if k := Classify(id); ok != (k == KindProduct) {
			t.Fatalf("ParseProduct(%q) ok = %v but Classify(%q) = %v", id, ok, id, k)
		}
		if !ok {
			return
		}
		code, err := Product(pid)
		if err != nil || code != id {
			t.Fatalf("ParseProduct(%q) = %q, true; Product(%q) = %q, %v, want %q, nil", id, pid, pid, code, err, id)
		}
	})
}

func FuzzProduct(f *testing.F) {
	for _, s := range []string{"1", "1005001234567890", "18446744073709551615", "18446744073709551616", "0", "-1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, pid string) {
		code, err := Product(pid)
		if err != nil {
			return
		}
		got, ok := ParseProduct(code)
		if !ok || got != pid {
			t.Fatalf("ParseProduct(Product(%q) = %q) = %q, %v, want %q, true", pid, code, got, ok, pid)
		}
	})
}

var sinkBool bool
var sinkString string

func BenchmarkParseProduct(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		sinkString, sinkBool = ParseProduct("4bNbq4b6AY")
	}
}

func BenchmarkValid(b *testing.B) {
	for _, id := range []string{"aZ3kP9qX", "4bNbq4b6AY", "summer-sale", "favicon.ico"} {
		b.Run(id, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				sinkBool = Valid(id)
			}
		})
	}
}

func BenchmarkNew(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		sinkString, _ = New()
	}
}
