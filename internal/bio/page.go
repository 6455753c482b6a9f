// Package bio is the creators' link-in-bio pages (/@handle): the page model and its checks, its
// storage in Redis, and its server-side rendering, cached per process.
package bio

import (
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/redirector/redirector/internal/link"
	"github.com/redirector/redirector/internal/preview"
	"github.com/redirector/redirector/internal/shortid"
)

// Bounds of a page: what one admin request can make the store hold and a render cost.
const (
	MinHandle  = 3
	MaxHandle  = 30
	MaxTitle   = 80  // runes
	MaxText    = 300 // runes
	MaxCaption = 100 // runes
	MaxHeading = 80  // runes
	MaxItems   = 50
	maxAvatar  = 2048 // bytes
	maxInitial = 3    // runes of an avatar given as initials
)

// Page is a creator's bio page. Handle is kept as its creator wrote it and shown so; it is unique
// ignoring case (Key). Items are in the order shown.
type Page struct {
	Handle  string    `json:"handle"`
	Title   string    `json:"title"`
	Text    string    `json:"text,omitempty"`
	Avatar  string    `json:"avatar,omitempty"` // an image URL on AliExpress's image hosts, or 1–3 letters of initials; empty: initials of the title
	Items   []Item    `json:"items"`
	Created time.Time `json:"created_at"`
	Updated time.Time `json:"updated_at"`
}

// Item is one entry of a page: a short link (ID, with an optional Caption) or a section Heading.
// URL is input only: the API turns it into a short link's ID before the page is stored.
type Item struct {
	ID      string `json:"id,omitempty"`
	URL     string `json:"url,omitempty"`
	Caption string `json:"caption,omitempty"`
	Heading string `json:"heading,omitempty"`
}

// Key is the handle as pages are stored and found: lower case, so that handles differing only in
// case are one. ok=false for a handle that is not valid (CheckHandle).
func Key(handle string) (string, bool) {
	if CheckHandle(handle) != nil {
		return "", false
	}
	return strings.ToLower(handle), true
}

// CheckHandle returns link.ErrInvalid, saying why, unless handle is 3 to 30 ASCII letters, digits,
// '_' and '.'.
func CheckHandle(handle string) error {
	if n := len(handle); n < MinHandle || n > MaxHandle {
		return link.Invalid(fmt.Sprintf("handle must be %d to %d characters", MinHandle, MaxHandle))
	}
	for i := range len(handle) {
		c := handle[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '.') {
			return link.Invalid("handle may hold only letters, digits, '_' and '.'")
		}
	}
	return nil
}

// Check returns link.ErrInvalid, saying what is wrong and where, unless p can be stored: a valid
// handle, a title, texts within their bounds and free of control characters, an avatar that is an
// image on AliExpress's image hosts or initials, at most MaxItems items each either a well-formed
// short-link id (with an optional caption) or a heading. stored says the page is about to be
// stored (or was read back): then no item may carry a URL.
func Check(p Page, stored bool) error {
	if err := CheckHandle(p.Handle); err != nil {
		return err
	}
	if strings.TrimSpace(p.Title) == "" {
		return link.Invalid("title is required")
	}
	if err := checkText("title", p.Title, MaxTitle); err != nil {
		return err
	}
	if err := checkText("text", p.Text, MaxText); err != nil {
		return err
	}
	if err := checkAvatar(p.Avatar); err != nil {
		return err
	}
	if len(p.Items) > MaxItems {
		return link.Invalid(fmt.Sprintf("a page holds at most %d items", MaxItems))
	}
	for i, it := range p.Items {
		if err := checkItem(it, stored); err != nil {
			return link.Invalid(fmt.Sprintf("items[%d]: %s", i, err.Error()))
		}
	}
	return nil
}

func checkItem(it Item, stored bool) error {
	kinds := 0
	for _, s := range []string{it.ID, it.URL, it.Heading} {
		if s != "" {
			kinds++
		}
	}
	if kinds != 1 {
		return link.Invalid(`an item is {"id"}, {"url"} or {"heading"}: exactly one of them`)
	}
	switch {
	case it.Heading != "":
		if it.Caption != "" {
			return link.Invalid("a heading has no caption")
		}
		return checkText("heading", it.Heading, MaxHeading)
	case it.URL != "" && stored:
		return link.Invalid("a stored item is a short link's id, not a url")
	case it.ID != "" && !shortid.Valid(it.ID):
		return link.Invalid(fmt.Sprintf("id %q is not a short link's id", it.ID))
	}
	return checkText("caption", it.Caption, MaxCaption)
}

// checkText refuses text longer than max runes, not UTF-8, or with control characters (a line
// break is allowed only in the text).
func checkText(name, s string, max int) error {
	if !utf8.ValidString(s) {
		return link.Invalid(name + " is not UTF-8")
	}
	if n := utf8.RuneCountInString(s); n > max {
		return link.Invalid(fmt.Sprintf("%s is longer than %d characters", name, max))
	}
	for _, r := range s {
		if unicode.IsControl(r) && !(r == '\n' && name == "text") {
			return link.Invalid(name + " holds a control character")
		}
	}
	return nil
}

func checkAvatar(a string) error {
	switch {
	case a == "":
		return nil
	case len(a) > maxAvatar:
		return link.Invalid("avatar is too long")
	case strings.HasPrefix(a, "https://") || strings.HasPrefix(a, "http://"):
		if !preview.ValidImage(a) {
			return link.Invalid("avatar must be an https image on AliExpress's image hosts (*.alicdn.com, *.aliexpress-media.com)")
		}
		return nil
	}
	if n := utf8.RuneCountInString(a); n > maxInitial {
		return link.Invalid("avatar is an image URL or 1 to 3 letters of initials")
	}
	for _, r := range a {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			return link.Invalid("avatar is an image URL or 1 to 3 letters of initials")
		}
	}
	return nil
}

// initials is the avatar text of a page without an image: its Avatar initials, or the first
// letters of the title's first two words.
func initials(p Page) string {
	if p.Avatar != "" && !strings.HasPrefix(p.Avatar, "https://") {
		return strings.ToUpper(p.Avatar)
	}
	var b strings.Builder
	for _, w := range strings.Fields(p.Title) {
		r, _ := utf8.DecodeRuneInString(w)
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			b.WriteRune(unicode.ToUpper(r))
		}
		if b.Len() >= 2 {
			break
		}
	}
	if b.Len() == 0 {
		return "@"
	}
	return b.String()
}
