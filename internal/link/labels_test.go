package link

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestNewLabels(t *testing.T) {
	tests := []struct {
		name string
		in   []string
		want []string
		bad  string // part of the error, "" when none
	}{
		{name: "none", in: nil, want: nil},
		{name: "trimmed and deduplicated ignoring case", in: []string{" Summer ", "summer", "Flyer", "", "  "}, want: []string{"Summer", "Flyer"}},
		{name: "unicode", in: []string{"Été 2026", "été 2026"}, want: []string{"Été 2026"}},
		{name: "control character", in: []string{"a\tb"}, bad: "control character"},
		{name: "newline", in: []string{"a\nb"}, bad: "control character"},
		{name: "separator", in: []string{"a\x1fb"}, bad: "control character"},
		{name: "not UTF-8", in: []string{"a\xffb"}, bad: "not UTF-8"},
		{name: "too long", in: []string{strings.Repeat("é", MaxLabelLen+1)}, bad: "characters long"},
		{name: "longest", in: []string{strings.Repeat("é", MaxLabelLen)}, want: []string{strings.Repeat("é", MaxLabelLen)}},
		{name: "too many", in: strings.Split("a b c d e f g h i j k", " "), bad: "at most 10"},
		{name: "ten after dedupe", in: strings.Split("a b c d e f g h i j A", " "), want: strings.Split("a b c d e f g h i j", " ")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := NewLabels(tc.in)
			if tc.bad != "" {
				if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.bad) {
					t.Fatalf("NewLabels(%q) = %q, %v; want an invalid error saying %q", tc.in, got.All(), err, tc.bad)
				}
				return
			}
			if err != nil || !slices.Equal(got.All(), tc.want) {
				t.Fatalf("NewLabels(%q) = %q, %v; want %q", tc.in, got.All(), err, tc.want)
			}
			if back := ParseLabels(got.Encode()); back != got {
				t.Errorf("ParseLabels(Encode(%q)) = %q", got.All(), back.All())
			}
		})
	}
}

func TestLabelsHasContains(t *testing.T) {
	ls, err := NewLabels([]string{"Summer Sale", "flyer"})
	if err != nil {
		t.Fatal(err)
	}
	if !ls.Has("FLYER") || ls.Has("fly") {
		t.Errorf("Has: FLYER %v (want true), fly %v (want false)", ls.Has("FLYER"), ls.Has("fly"))
	}
	if !ls.Contains("mer sa") || ls.Contains("winter") {
		t.Errorf("Contains: %q %v (want true), winter %v (want false)", "mer sa", ls.Contains("mer sa"), ls.Contains("winter"))
	}
}
