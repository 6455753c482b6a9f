// Package health knows which short links still earn: it checks every link's product on the platform in
// batches (Monitor), learns from clicks that a page is not promotable, and decides where a click goes
// while a target is gone or earns nothing (Divert).
package health

import (
	"net/url"
	"strconv"
	"strings"
	"unicode"

	"github.com/redirector/redirector/internal/aliurl"
	"github.com/redirector/redirector/internal/link"
)

// homePage is where a gone product's clicks go when nothing better is known: never a dead page.
const homePage = "https://www.aliexpress.com/"

// maxSearchWords bounds the words of a title that a search page or a product query is made of.
const maxSearchWords = 8

// Divert returns where a click on rec goes instead of its target, given its health; "" when it goes
// to its target. The policy:
//   - gone: the link's plan B (Fallback) when it has one; else the seller's store page when known;
//     else the AliExpress search for the product's last known title; else the AliExpress home page.
//   - untagged: the plan B when rec.FallbackWhen is "untagged"; else the target (untagged).
//   - any other state: the target.
//
// Every URL returned is an accepted page (aliurl.Parse) in its canonical form; the resolver tags it
// where the platform can.
func Divert(rec link.Record, h link.Health) string {
	switch h.State {
	case link.HealthGone:
		if u := accepted(rec.Fallback); u != "" {
			return u
		}
		if u := accepted(h.Product.Store); u != "" {
			return u
		}
		if u := SearchURL(h.Product.Title); u != "" {
			return u
		}
		return homePage
	case link.HealthUntagged:
		if rec.FallbackWhen == link.FallbackUntagged {
			return accepted(rec.Fallback)
		}
	}
	return ""
}

// accepted returns raw's canonical form when it is a page (not a share link) aliurl accepts, else "".
func accepted(raw string) string {
	if raw == "" {
		return ""
	}
	p, err := aliurl.Parse(raw)
	if err != nil || p.Kind == aliurl.Share {
		return ""
	}
	return p.URL
}

// SearchURL is the AliExpress search page for a product's title (its first words), or "" when the
// title has no words.
func SearchURL(title string) string {
	kw := Keywords(title)
	if kw == "" {
		return ""
	}
	return accepted("https://www.aliexpress.com/wholesale?SearchText=" + url.QueryEscape(kw))
}

// Keywords are the first words of a title, letters and digits only, for a search or a product query.
func Keywords(title string) string {
	words := strings.FieldsFunc(title, func(r rune) bool {
		return !(r == '-' || r == '\'' || isWordRune(r))
	})
	if len(words) > maxSearchWords {
		words = words[:maxSearchWords]
	}
	return strings.Join(words, " ")
}

func isWordRune(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }

// Earns reports whether a commission rate the platform gave ("7.0%") says the product earns. An
// empty rate is not a "no": the platform only answers for products in the affiliate programme.
func Earns(rate string) bool {
	s := strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rate), "%"))
	if s == "" {
		return true
	}
	f, err := strconv.ParseFloat(s, 64)
	return err != nil || f > 0
}

// validImage accepts only https images on AliExpress's image hosts (alicdn.com, aliexpress-media.com),
// as the previews do: an image URL is seller data shown in the console.
func validImage(raw string) bool {
	if raw == "" || len(raw) > 2048 {
		return false
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "https" || u.User != nil || u.Port() != "" {
		return false
	}
	h := u.Hostname()
	return strings.HasSuffix(h, ".alicdn.com") || strings.HasSuffix(h, ".aliexpress-media.com")
}
