package link

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Bounds of a link's labels (its campaign names).
const (
	// MaxLabels is how many labels one link may carry.
	MaxLabels = 10
	// MaxLabelLen bounds one label, in characters (runes).
	MaxLabelLen = 64
)

// labelSep joins labels in Labels' one string: a control character, which no label may hold.
const labelSep = "\x1f"

// Labels are a link's campaign names: free text, at most MaxLabels, each trimmed, of 1 to MaxLabelLen
// characters without control characters, none twice ignoring case, in the order given. The zero value
// is no labels. A Labels is an immutable value (comparable, so Record stays comparable); make one with
// NewLabels or ParseLabels.
type Labels struct {
	s string // the labels joined by labelSep; "" for none
}

// NewLabels checks labels and returns them as kept: each trimmed of surrounding white space, empty ones
// dropped, and of those equal ignoring case only the first kept. It returns an error wrapping
// ErrInvalid, saying which label is wrong and why, for a label that is not UTF-8, holds a control
// character or is longer than MaxLabelLen characters, or for more than MaxLabels labels once
// deduplicated.
func NewLabels(labels []string) (Labels, error) {
	var out []string
	for _, l := range labels {
		l = strings.TrimSpace(l)
		if l == "" {
			continue
		}
		if !utf8.ValidString(l) {
			return Labels{}, Invalid(fmt.Sprintf("label %q is not UTF-8", l))
		}
		if strings.IndexFunc(l, unicode.IsControl) >= 0 {
			return Labels{}, Invalid(fmt.Sprintf("label %q holds a control character", l))
		}
		if n := utf8.RuneCountInString(l); n > MaxLabelLen {
			return Labels{}, Invalid(fmt.Sprintf("label %q is %d characters long; at most %d", l, n, MaxLabelLen))
		}
		if hasFold(out, l) {
			continue
		}
		if len(out) == MaxLabels {
			return Labels{}, Invalid(fmt.Sprintf("a link has at most %d labels", MaxLabels))
		}
		out = append(out, l)
	}
	return Labels{s: strings.Join(out, labelSep)}, nil
}

// ParseLabels reads what Labels.Encode wrote, as outside data: it is checked again, and labels that fail
// (or come past MaxLabels) are dropped rather than shown.
func ParseLabels(s string) Labels {
	if s == "" {
		return Labels{}
	}
	raw := strings.Split(s, labelSep)
	if ls, err := NewLabels(raw); err == nil {
		return ls
	}
	var kept []string
	for _, l := range raw {
		if _, err := NewLabels(append(kept[:len(kept):len(kept)], l)); err == nil {
			kept = append(kept, l)
		}
	}
	ls, _ := NewLabels(kept)
	return ls
}

// Encode is the labels as one string for a store; "" for none.
func (ls Labels) Encode() string { return ls.s }

// All returns the labels, in order; nil for none.
func (ls Labels) All() []string {
	if ls.s == "" {
		return nil
	}
	return strings.Split(ls.s, labelSep)
}

// Empty reports whether there are no labels.
func (ls Labels) Empty() bool { return ls.s == "" }

// Has reports whether label is one of the labels, ignoring case.
func (ls Labels) Has(label string) bool { return hasFold(ls.All(), label) }

// Contains reports whether some label holds sub, which must be lower case, ignoring case.
func (ls Labels) Contains(sub string) bool {
	return strings.Contains(strings.ToLower(ls.s), sub)
}

func hasFold(list []string, s string) bool {
	for _, l := range list {
		if strings.EqualFold(l, s) {
			return true
		}
	}
	return false
}
