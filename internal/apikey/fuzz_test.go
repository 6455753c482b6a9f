package apikey

import (
	"strings"
	"testing"
)

// FuzzParse: Parse never panics, and what it accepts has a key's form, its id a key's id.
func FuzzParse(f *testing.F) {
	token, _, _ := newToken()
	for _, s := range []string{token, "", "rdk_", "rdk_0123456789abcdef_", token[:len(token)-1] + "=", "Bearer " + token} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := Parse(s)
		if err != nil {
			return
		}
		if len(s) != tokenLen || !strings.HasPrefix(s, "rdk_"+id+"_") || !validID(id) {
			t.Errorf("Parse(%q) = %q, which is not a key's form", s, id)
		}
	})
}
