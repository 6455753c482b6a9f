package linkcsv

import (
	"errors"
	"strings"
	"testing"
)

// FuzzParse: whatever the file, Parse answers rows or an ErrFile error, never panics, and every row it
// gives has the number a spreadsheet shows (from 2, in order).
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"url\nhttps://www.aliexpress.com/item/1005001234567890.html\n",
		"\uFEFFslug,URL,label\nabc,https://www.aliexpress.com/item/1.html,a|b\n",
		"url,slug\n\"a\nb\",c\n",
		"url,url\n",
		"url\n\"unterminated\n",
		"",
		"label\nx\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		rows, err := Parse(strings.NewReader(s))
		if err != nil {
			if !errors.Is(err, ErrFile) {
				t.Fatalf("Parse(%q) = %v, not an ErrFile", s, err)
			}
			return
		}
		last := 1
		for _, r := range rows {
			if r.Line <= last {
				t.Fatalf("Parse(%q): row %d after row %d", s, r.Line, last)
			}
			last = r.Line
		}
	})
}
