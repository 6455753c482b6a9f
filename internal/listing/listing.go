// Package listing finds and orders short links for the admin's list: search, filters, sort and pages.
package listing

import (
	"cmp"
	"encoding/base64"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redirector/redirector/internal/aliurl"
	"github.com/redirector/redirector/internal/link"
)

// Entry is one live link with what the list shows and sorts by.
type Entry struct {
	Record             link.Record
	Health             link.Health
	Clicks, Scans, Bio int64
	LastClick          time.Time // zero: never clicked (or only before last clicks were kept)
	// Orders and Commission are the link's orders that count and their estimated commission (cents).
	Orders, Commission int64
}

// Sort names an order of the list.
type Sort string

// The orders of the list. Ties are broken by id, in the same direction.
const (
	ByCreated   Sort = "created"    // creation time
	ByClicks    Sort = "clicks"     // total clicks
	ByLastClick Sort = "last_click" // the last click's time; never clicked is the lowest
	ByEarnings  Sort = "earnings"   // estimated commission
)

// ParseSort returns the order named s; ok is false when s names none.
func ParseSort(s string) (Sort, bool) {
	switch Sort(s) {
	case ByCreated, ByClicks, ByLastClick, ByEarnings:
		return Sort(s), true
	}
	return "", false
}

// Query is what the list asks for. The zero Query lists every link, newest first.
type Query struct {
	// Text, when not empty, keeps the links whose id (slug), product id, product title or one of whose
	// labels holds it, ignoring case.
	Text string
	Sort Sort // "": ByCreated
	Asc  bool // ascending; default descending
	// Health, when HealthSet, keeps the links in that state.
	Health    link.HealthState
	HealthSet bool
	// Channel, when ChannelSet, keeps the links on that channel ("" the default one).
	Channel    string
	ChannelSet bool
	// Label, when not empty, keeps the links that carry it, ignoring case.
	Label string
	// IDs, when not nil, keeps the links with these ids.
	IDs []string
}

// Page is one page of a Query's answer.
type Page struct {
	Entries []Entry
	Total   int    // every entry the query matches, on every page
	Next    string // the cursor of the next page; "" when this is the last
}

// Run answers q over entries: the limit entries after cursor ("" for the first page) of those that
// match, in q's order, with their total and the next page's cursor. A cursor is a position (the
// last entry's sort key and id), not an offset: links created or deleted meanwhile do not make a
// page repeat or skip the others. ok is false when cursor is not one Run gave out for q's order.
// entries is reordered.
func Run(entries []Entry, q Query, cursor string, limit int) (p Page, ok bool) {
	if q.Sort == "" {
		q.Sort = ByCreated
	}
	var after *position
	if cursor != "" {
		pos, ok := decodeCursor(cursor, q)
		if !ok {
			return Page{}, false
		}
		after = &pos
	}
	matched := entries[:0]
	text := strings.ToLower(strings.TrimSpace(q.Text))
	var ids map[string]struct{}
	if q.IDs != nil {
		ids = make(map[string]struct{}, len(q.IDs))
		for _, id := range q.IDs {
			ids[id] = struct{}{}
		}
	}
	for _, e := range entries {
		if matches(e, q, text, ids) {
			matched = append(matched, e)
		}
	}
	sign := -1
	if q.Asc {
		sign = 1
	}
	compare := func(ak int64, aid string, bk int64, bid string) int {
		if c := cmp.Compare(ak, bk); c != 0 {
			return sign * c
		}
		return sign * strings.Compare(aid, bid)
	}
	slices.SortFunc(matched, func(a, b Entry) int {
		return compare(key(a, q.Sort), a.Record.ID, key(b, q.Sort), b.Record.ID)
	})
	start := 0
	if after != nil {
		start, _ = slices.BinarySearchFunc(matched, *after, func(e Entry, p position) int {
			if compare(key(e, q.Sort), e.Record.ID, p.key, p.id) <= 0 {
				return -1
			}
			return 1
		})
	}
	end := min(start+limit, len(matched))
	p = Page{Entries: matched[start:end], Total: len(matched)}
	if end < len(matched) && end > start {
		last := matched[end-1]
		p.Next = position{key: key(last, q.Sort), id: last.Record.ID}.encode(q)
	}
	return p, true
}

func matches(e Entry, q Query, text string, ids map[string]struct{}) bool {
	r := e.Record
	switch {
	case ids != nil:
		if _, ok := ids[r.ID]; !ok {
			return false
		}
	}
	if q.HealthSet && e.Health.State != q.Health {
		return false
	}
	if q.ChannelSet && r.Channel != q.Channel {
		return false
	}
	if q.Label != "" && !r.Labels.Has(q.Label) {
		return false
	}
	if text == "" {
		return true
	}
	return strings.Contains(strings.ToLower(r.ID), text) ||
		strings.Contains(strings.ToLower(e.Health.Product.Title), text) ||
		r.Labels.Contains(text) ||
		strings.Contains(ProductID(r.Target), text)
}

// ProductID is the AliExpress product id of a target that is a product page; "" otherwise.
func ProductID(target string) string {
	if p, err := aliurl.Parse(target); err == nil && p.Kind == aliurl.Product {
		return p.ID
	}
	return ""
}

func key(e Entry, s Sort) int64 {
	switch s {
	case ByClicks:
		return e.Clicks
	case ByLastClick:
		if e.LastClick.IsZero() {
			return 0
		}
		return e.LastClick.UnixMilli()
	case ByEarnings:
		return e.Commission
	}
	return e.Record.Created.UnixMilli()
}

// position is where a page ended: its last entry's sort key and id.
type position struct {
	key int64
	id  string
}

// encode is the cursor of the page after p: the order it belongs to, p's key and id.
func (p position) encode(q Query) string {
	dir := "d"
	if q.Asc {
		dir = "a"
	}
	return base64.RawURLEncoding.EncodeToString([]byte(string(q.Sort) + ":" + dir + ":" + strconv.FormatInt(p.key, 10) + ":" + p.id))
}

func decodeCursor(s string, q Query) (position, bool) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return position{}, false
	}
	parts := strings.SplitN(string(b), ":", 4)
	dir := "d"
	if q.Asc {
		dir = "a"
	}
	if len(parts) != 4 || parts[0] != string(q.Sort) || parts[1] != dir || parts[3] == "" {
		return position{}, false
	}
	k, err := strconv.ParseInt(parts[2], 10, 64)
	if err != nil {
		return position{}, false
	}
	return position{key: k, id: parts[3]}, true
}
