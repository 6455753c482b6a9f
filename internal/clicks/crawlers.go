package clicks

import (
	"bytes"
	"fmt"
	"regexp"
	"regexp/syntax"
	"slices"
	"sync"
	"unicode/utf8"

	"github.com/coregx/ahocorasick"
)

// Crawler-Detect's verdict is "a crawler pattern is found in the User-Agent once the exclusions (the tokens of
// browsers: Mozilla/5.0, Safari/537.36, …) are removed from it". It runs all that as two regular expressions of
// some 1,400 alternatives, which Go's engine matches in time that grows with the agent (about 100µs at 100
// bytes). Here the same verdict costs a few passes over at most maxUA bytes:
//   - the exclusions are removed in one pass (each has a literal head and a tail of digits and dots);
//   - every crawler pattern that means a finite set of strings (all but a handful) becomes literals, with the
//     unanchored ones in one Aho–Corasick automaton, those anchored at the start in a table by first byte;
//   - the few left over keep their regular expression, run at most once per agent and only when the literals
//     they require are all present.

// tail is how an exclusion goes on after its literal head; each one is matched greedily, as the regular
// expression in its src would be.
type tail uint8

const (
	tailNone         tail = iota
	tailAnyDigits         // .[\d\.]*
	tailAnyDigit          // .[\d\.]
	tailDigits            // [\d\.]*
	tailAny               // .
	tailAnyAny            // ..
	tailOptAnyDigits      // (.[\d\.]*)?
	tailMacVersion        // [\d_]*
	tailLikeMacOSX        // ([0-9_])* like Mac OS X
	tailOperaMini         // \d{1,2}\.\d{1,2}\.[\d\.]*\/\d{1,2}\.
	tailSuper             // \d+\/Android\/\d+
)

// exclusion is one of Crawler-Detect's exclusions (raw/Exclusions.txt as shipped by crawlerdetect v0.2.24):
// src is the regular expression, head its lower-case literal start.
type exclusion struct {
	src  string
	head string
	tail tail
}

// exclusions are in Crawler-Detect's order, which decides between two that start at the same byte.
// `(like )?Gecko(.[\d\.]*)?` is two entries, with and without its optional head.
var exclusions = [...]exclusion{
	{`Safari.[\d\.]*`, "safari", tailAnyDigits},
	{`Firefox.[\d\.]*`, "firefox", tailAnyDigits},
	{` Chrome.[\d\.]*`, " chrome", tailAnyDigits},
	{`Chromium.[\d\.]*`, "chromium", tailAnyDigits},
	{`MSIE.[\d\.]`, "msie", tailAnyDigit},
	{`Opera\/[\d\.]*`, "opera/", tailDigits},
	{`Mozilla.[\d\.]*`, "mozilla", tailAnyDigits},
	{`AppleWebKit.[\d\.]*`, "applewebkit", tailAnyDigits},
	{`Trident.[\d\.]*`, "trident", tailAnyDigits},
	{`Windows NT.[\d\.]*`, "windows nt", tailAnyDigits},
	{`Android [\d\.]*`, "android ", tailDigits},
	{`Macintosh.`, "macintosh", tailAny},
	{`Ubuntu`, "ubuntu", tailNone},
	{`Linux`, "linux", tailNone},
	{`[ ]Intel`, " intel", tailNone},
	{`Mac OS X [\d_]*`, "mac os x ", tailMacVersion},
	{`(like )?Gecko(.[\d\.]*)?`, "like gecko", tailOptAnyDigits},
	{`(like )?Gecko(.[\d\.]*)?`, "gecko", tailOptAnyDigits},
	{`KHTML,`, "khtml,", tailNone},
	{`CriOS.[\d\.]*`, "crios", tailAnyDigits},
	{`CPU iPhone OS ([0-9_])* like Mac OS X`, "cpu iphone os ", tailLikeMacOSX},
	{`CPU OS ([0-9_])* like Mac OS X`, "cpu os ", tailLikeMacOSX},
	{`iPod`, "ipod", tailNone},
	{`compatible`, "compatible", tailNone},
	{`x86_..`, "x86_", tailAnyAny},
	{`i686`, "i686", tailNone},
	{`x64`, "x64", tailNone},
	{`X11`, "x11", tailNone},
	{`rv:[\d\.]*`, "rv:", tailDigits},
	{`Version.[\d\.]*`, "version", tailAnyDigits},
	{`WOW64`, "wow64", tailNone},
	{`Win64`, "win64", tailNone},
	{`Dalvik.[\d\.]*`, "dalvik", tailAnyDigits},
	{` \.NET CLR [\d\.]*`, " .net clr ", tailDigits},
	{`Presto.[\d\.]*`, "presto", tailAnyDigits},
	{`Media Center PC`, "media center pc", tailNone},
	{`BlackBerry`, "blackberry", tailNone},
	{`Build`, "build", tailNone},
	{`Opera Mini\/\d{1,2}\.\d{1,2}\.[\d\.]*\/\d{1,2}\.`, "opera mini/", tailOperaMini},
	{`Opera`, "opera", tailNone},
	{` \.NET[\d\.]*`, " .net", tailDigits},
	{`cubot`, "cubot", tailNone},
	{`; M bot`, "; m bot", tailNone},
	{`; CRONO`, "; crono", tailNone},
	{`; B bot`, "; b bot", tailNone},
	{`; IDbot`, "; idbot", tailNone},
	{`; ID bot`, "; id bot", tailNone},
	{`; POWER BOT`, "; power bot", tailNone},
	{`OCTOPUS-CORE`, "octopus-core", tailNone},
	{`htc_botdugls`, "htc_botdugls", tailNone},
	{`super\/\d+\/Android\/\d+`, "super/", tailSuper},
	{`YandexSearch`, "yandexsearch", tailNone},
}

// maxLiterals bounds the strings one crawler pattern may stand for; a pattern that means more keeps its
// regular expression.
const maxLiterals = 256

// crawlerMatcher finds crawler patterns in a cleaned, lower-cased User-Agent. It is read-only once built and
// safe for concurrent use.
type crawlerMatcher struct {
	anywhere *ahocorasick.Automaton // literals that may occur anywhere
	prefixes [256][]string          // literals that must start the agent, by their first byte
	whole    map[string]bool        // literals that must be the whole agent
	checks   []check                // patterns that are not a finite set of literals
	// exclusionsAt lists, for each byte, the exclusions whose head starts with it, in order.
	exclusionsAt [256][]uint8
	// exclusionPairs has bit b of word a set when some exclusion's head starts with the bytes a, b: most
	// bytes of an agent start none, and are passed over with one look-up.
	exclusionPairs [256][4]uint64
}

// check is a crawler pattern kept as a regular expression, run only when every one of its required literals
// is in the agent.
type check struct {
	requires [][]byte
	re       *regexp.Regexp
}

// crawlers is the matcher, built on first use.
var crawlers = sync.OnceValue(func() *crawlerMatcher {
	m, err := compileCrawlers(crawlerPatterns[:])
	if err != nil {
		panic(err) // the patterns are constants: a test builds them
	}
	return m
})

// compileCrawlers builds the matcher for patterns and the exclusions.
func compileCrawlers(patterns []string) (*crawlerMatcher, error) {
	m := &crawlerMatcher{whole: make(map[string]bool)}
	var anywhere []string
	for _, p := range patterns {
		re, err := syntax.Parse(p, syntax.Perl|syntax.FoldCase)
		if err != nil {
			return nil, fmt.Errorf("crawler pattern %q: %w", p, err)
		}
		re = re.Simplify()
		lits, ok := literals(re)
		if !ok {
			c, err := newCheck(p, re)
			if err != nil {
				return nil, err
			}
			m.checks = append(m.checks, c)
			continue
		}
		for _, l := range lits {
			switch {
			case l.begin && l.end:
				m.whole[l.s] = true
			case l.begin:
				m.prefixes[l.s[0]] = append(m.prefixes[l.s[0]], l.s)
			case l.end:
				return nil, fmt.Errorf("crawler pattern %q: anchored at the end only", p)
			default:
				anywhere = append(anywhere, l.s)
			}
		}
	}
	slices.Sort(anywhere)
	anywhere = slices.Compact(anywhere)
	a, err := ahocorasick.NewBuilder().AddStrings(anywhere).Build()
	if err != nil {
		return nil, fmt.Errorf("crawler automaton: %w", err)
	}
	m.anywhere = a
	for i, e := range exclusions {
		m.exclusionsAt[e.head[0]] = append(m.exclusionsAt[e.head[0]], uint8(i))
		m.exclusionPairs[e.head[0]][e.head[1]/64] |= 1 << (e.head[1] % 64)
	}
	return m, nil
}

// newCheck keeps pattern p (parsed as re) as a regular expression over lower-cased agents, with the literals
// of length 3 or more that any match must contain. A pattern without one is refused: it would run on every
// agent.
func newCheck(p string, re *syntax.Regexp) (check, error) {
	lowerLiterals(re)
	c := check{re: regexp.MustCompile(re.String())}
	subs := []*syntax.Regexp{re}
	if re.Op == syntax.OpConcat {
		subs = re.Sub
	}
	for _, s := range subs {
		if s.Op == syntax.OpLiteral && len(s.Rune) >= 3 {
			c.requires = append(c.requires, []byte(string(s.Rune)))
		}
	}
	if len(c.requires) == 0 {
		return check{}, fmt.Errorf("crawler pattern %q: neither literals nor a required literal", p)
	}
	return c, nil
}

// lowerLiterals makes the case-insensitive literals in re lower-case and case-sensitive: the agent is
// lower-cased already, and Go's engine finds a case-sensitive literal prefix far faster. Character classes
// parsed case-insensitively hold both cases; the upper case is never met.
func lowerLiterals(re *syntax.Regexp) {
	if re.Op == syntax.OpLiteral && re.Flags&syntax.FoldCase != 0 {
		re.Rune = []rune(lowerASCII(string(re.Rune)))
		re.Flags &^= syntax.FoldCase
	}
	for _, sub := range re.Sub {
		lowerLiterals(sub)
	}
}

// literal is one string a crawler pattern stands for, and where it must be.
type literal struct {
	s          string
	begin, end bool
}

// literals returns the strings the pattern re matches somewhere in an agent, if they are a finite set of
// at most maxLiterals. Unanchored, parts that may match empty at either end are dropped (an agent contains
// `[a-z]*bot` exactly when it contains `bot`) and `x+` there is `x`.
func literals(re *syntax.Regexp) ([]literal, bool) {
	if re.Op == syntax.OpAlternate {
		var out []literal
		for _, sub := range re.Sub {
			l, ok := literals(sub)
			if !ok {
				return nil, false
			}
			out = append(out, l...)
		}
		return out, true
	}
	if re.Op == syntax.OpCapture {
		return literals(re.Sub[0])
	}
	subs := []*syntax.Regexp{re}
	if re.Op == syntax.OpConcat {
		subs = re.Sub
	}
	var begin, end bool
	if len(subs) > 0 && subs[0].Op == syntax.OpBeginText {
		begin, subs = true, subs[1:]
	}
	if len(subs) > 0 && subs[len(subs)-1].Op == syntax.OpEndText {
		end, subs = true, subs[:len(subs)-1]
	}
	if !begin {
		for len(subs) > 0 && canBeEmpty(subs[0]) {
			subs = subs[1:]
		}
		if len(subs) > 0 && subs[0].Op == syntax.OpPlus {
			subs = append([]*syntax.Regexp{subs[0].Sub[0]}, subs[1:]...)
		}
	}
	if !end {
		for len(subs) > 0 && canBeEmpty(subs[len(subs)-1]) {
			subs = subs[:len(subs)-1]
		}
		if n := len(subs); n > 0 && subs[n-1].Op == syntax.OpPlus {
			subs = append(subs[:n-1:n-1], subs[n-1].Sub[0])
		}
	}
	strs, ok := finite(&syntax.Regexp{Op: syntax.OpConcat, Sub: subs})
	if !ok {
		return nil, false
	}
	out := make([]literal, 0, len(strs))
	for _, s := range strs {
		if s == "" {
			return nil, false // would match every agent
		}
		out = append(out, literal{s: s, begin: begin, end: end})
	}
	return out, true
}

// finite returns the lower-case strings re matches, if they are at most maxLiterals.
func finite(re *syntax.Regexp) ([]string, bool) {
	switch re.Op {
	case syntax.OpEmptyMatch:
		return []string{""}, true
	case syntax.OpLiteral:
		return []string{lowerASCII(string(re.Rune))}, true
	case syntax.OpCharClass:
		var out []string
		for i := 0; i+1 < len(re.Rune); i += 2 {
			for r := re.Rune[i]; r <= re.Rune[i+1]; r++ {
				if len(out) > maxLiterals {
					return nil, false
				}
				out = append(out, lowerASCII(string(r)))
			}
		}
		slices.Sort(out)
		return slices.Compact(out), true
	case syntax.OpCapture:
		return finite(re.Sub[0])
	case syntax.OpQuest:
		s, ok := finite(re.Sub[0])
		return append([]string{""}, s...), ok
	case syntax.OpAlternate:
		var out []string
		for _, sub := range re.Sub {
			s, ok := finite(sub)
			if !ok || len(out)+len(s) > maxLiterals {
				return nil, false
			}
			out = append(out, s...)
		}
		return out, true
	case syntax.OpConcat:
		out := []string{""}
		for _, sub := range re.Sub {
			s, ok := finite(sub)
			if !ok || len(out)*len(s) > maxLiterals {
				return nil, false
			}
			next := make([]string, 0, len(out)*len(s))
			for _, a := range out {
				for _, b := range s {
					next = append(next, a+b)
				}
			}
			out = next
		}
		return out, true
	}
	return nil, false
}

// canBeEmpty reports whether re matches the empty string.
func canBeEmpty(re *syntax.Regexp) bool {
	switch re.Op {
	case syntax.OpEmptyMatch, syntax.OpStar, syntax.OpQuest:
		return true
	case syntax.OpCapture, syntax.OpPlus:
		return canBeEmpty(re.Sub[0])
	case syntax.OpConcat:
		for _, sub := range re.Sub {
			if !canBeEmpty(sub) {
				return false
			}
		}
		return true
	case syntax.OpAlternate:
		return slices.ContainsFunc(re.Sub, canBeEmpty)
	}
	return false
}

// lowerASCII lower-cases the ASCII letters of s, as judge does to the agent.
func lowerASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// match reports whether the lower-cased agent, its surrounding space trimmed, is a crawler's. buf (at least
// as long as agent) receives the agent without its exclusions.
func (m *crawlerMatcher) match(agent, buf []byte) bool {
	s := m.clean(buf[:0], agent)
	if len(s) == 0 {
		return false
	}
	if m.whole[string(s)] {
		return true
	}
	for _, p := range m.prefixes[s[0]] {
		if hasPrefix(s, p) {
			return true
		}
	}
	if anyMatch(m.anywhere, s) {
		return true
	}
	for _, c := range m.checks {
		// A copy, so that s (on judge's stack) does not escape into the regexp's machine: the copy is made
		// only for the rare agent that holds every required literal.
		if containsAll(s, c.requires) && c.re.MatchString(string(s)) {
			return true
		}
	}
	return false
}

// anyMatch reports whether a finds one of its patterns in s. It stops at the first match, and unlike IsMatch
// runs the automaton alone: IsMatch looks for each pattern's first byte again (one IndexByte per distinct
// first byte, some 40 here) each time the automaton returns to its start, which costs several times more.
func anyMatch(a *ahocorasick.Automaton, s []byte) bool {
	return len(a.FindAll(s, 1)) > 0
}

// hasPrefix reports whether s begins with p, without converting p.
func hasPrefix(s []byte, p string) bool {
	return len(s) >= len(p) && string(s[:len(p)]) == p
}

// containsAll reports whether s contains every one of subs.
func containsAll(s []byte, subs [][]byte) bool {
	for _, sub := range subs {
		if !bytes.Contains(s, sub) {
			return false
		}
	}
	return true
}

// clean appends s without its exclusions to dst, as Crawler-Detect's ReplaceAll does: from left to right,
// each time the exclusion that starts first (the earliest listed among those starting at one byte).
func (m *crawlerMatcher) clean(dst, s []byte) []byte {
	kept := 0 // s[kept:i] is still to be appended
	for i := 0; i+1 < len(s); i++ {
		if m.exclusionPairs[s[i]][s[i+1]/64]&(1<<(s[i+1]%64)) == 0 {
			continue // every head has two bytes or more, and most pairs of bytes start none
		}
		if end, ok := m.exclusionAt(s, i); ok {
			dst = append(dst, s[kept:i]...)
			kept, i = end, end-1
		}
	}
	return append(dst, s[kept:]...)
}

// exclusionAt returns the end of the exclusion that matches s at i, if one does.
func (m *crawlerMatcher) exclusionAt(s []byte, i int) (end int, ok bool) {
	for _, k := range m.exclusionsAt[s[i]] {
		e := &exclusions[k]
		if !hasPrefix(s[i:], e.head) {
			continue
		}
		if end, ok := e.tail.match(s, i+len(e.head)); ok {
			return end, true
		}
	}
	return 0, false
}

// match matches the tail at s[i:] and returns where it ends.
func (t tail) match(s []byte, i int) (end int, ok bool) {
	switch t {
	case tailNone:
		return i, true
	case tailAnyDigits:
		if i, ok = anyChar(s, i); !ok {
			return 0, false
		}
		return span(s, i, isDigitOrDot), true
	case tailAnyDigit:
		if i, ok = anyChar(s, i); !ok || i >= len(s) || !isDigitOrDot(s[i]) {
			return 0, false
		}
		return i + 1, true
	case tailDigits:
		return span(s, i, isDigitOrDot), true
	case tailAny:
		return anyChar(s, i)
	case tailAnyAny:
		if i, ok = anyChar(s, i); !ok {
			return 0, false
		}
		return anyChar(s, i)
	case tailOptAnyDigits:
		if j, ok := anyChar(s, i); ok {
			return span(s, j, isDigitOrDot), true
		}
		return i, true
	case tailMacVersion:
		return span(s, i, isDigitOrUnderscore), true
	case tailLikeMacOSX:
		i = span(s, i, isDigitOrUnderscore)
		if !hasPrefix(s[i:], " like mac os x") {
			return 0, false
		}
		return i + len(" like mac os x"), true
	case tailOperaMini:
		// \d{1,2}\. twice, [\d\.]*\/, \d{1,2}\. — each part has one way to match.
		if i, ok = digitsDot(s, i); !ok {
			return 0, false
		}
		if i, ok = digitsDot(s, i); !ok {
			return 0, false
		}
		if i = span(s, i, isDigitOrDot); i >= len(s) || s[i] != '/' {
			return 0, false
		}
		return digitsDot(s, i+1)
	case tailSuper:
		j := span(s, i, isDigit)
		if j == i || !hasPrefix(s[j:], "/android/") {
			return 0, false
		}
		j += len("/android/")
		k := span(s, j, isDigit)
		return k, k > j
	}
	return 0, false
}

// anyChar matches `.`: one character other than a newline (an invalid byte counts as one).
func anyChar(s []byte, i int) (end int, ok bool) {
	if i >= len(s) || s[i] == '\n' {
		return 0, false
	}
	_, n := utf8.DecodeRune(s[i:])
	return i + n, true
}

// digitsDot matches `\d{1,2}\.`.
func digitsDot(s []byte, i int) (end int, ok bool) {
	j := i
	for j < len(s) && j-i < 2 && isDigit(s[j]) {
		j++
	}
	if j == i || j >= len(s) || s[j] != '.' {
		return 0, false
	}
	return j + 1, true
}

// span returns the end of the run of bytes from i that in accepts.
func span(s []byte, i int, in func(byte) bool) int {
	for i < len(s) && in(s[i]) {
		i++
	}
	return i
}

func isDigit(c byte) bool             { return '0' <= c && c <= '9' }
func isDigitOrDot(c byte) bool        { return isDigit(c) || c == '.' }
func isDigitOrUnderscore(c byte) bool { return isDigit(c) || c == '_' }
