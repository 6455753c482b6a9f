// Package link holds the redirector's domain types and errors, shared by every package and doing no I/O.
package link

import (
	"errors"
	"time"
)

// Errors a store of short links returns wrapped (check them with errors.Is); callers branch on them and
// map them to statuses.
var (
	// ErrExists means the id asked for is taken: a live record already has it (or, when a record is
	// created for a target, another record does, live or deleted). Nothing was written.
	ErrExists = errors.New("short link exists")
	// ErrNotFound means no live record has the id: it was never created, or it was deleted. Nothing was
	// written.
	ErrNotFound = errors.New("short link not found")
	// ErrBadCursor means a list cursor was not one the store handed out: it is malformed or made up.
	ErrBadCursor = errors.New("bad list cursor")
)

// Record is one short link: the page its id leads to. A store writes only records with a non-empty ID
// and Target; a Target read back is still outside data, validated again before it becomes a Location.
type Record struct {
	ID      string
	Target  string    // the URL the short link leads to
	Created time.Time // when the id was first given to this link (millisecond precision, UTC when read)
	Updated time.Time // the last change: creation, retarget or deletion
	Deleted bool      // a tombstone: the link was deleted; /{id} answers 404
	Channel string    // the tracking id its clicks are tagged with; "" for the default channel
	// Labels are the owner's campaign names for the link; zero: none.
	Labels Labels

	// Fallback is the link's plan B (an accepted AliExpress page, checked like Target): where clicks go
	// while the target is gone, and while it is untagged when FallbackWhen is FallbackUntagged. Empty:
	// none. See internal/health.
	Fallback     string
	FallbackWhen string // "" (gone only) or FallbackUntagged
	// Divert is where clicks go instead of Target while the health check says so (the plan B, a store
	// or search page); empty: to Target. Written by internal/health only, dropped when the target changes.
	Divert string
}

// Patch is a change to a live record's target and plan B: a nil field is left as it is. A Fallback
// set to "" clears the plan B, and its FallbackWhen with it unless FallbackWhen is given too.
type Patch struct {
	Target       *string
	Fallback     *string
	FallbackWhen *string
	// Labels, when set, replace the link's labels (the zero Labels clears them).
	Labels *Labels
	// Channel, when set, is the link's new tracking id ("": the default channel).
	Channel *string
}

// FallbackUntagged is the Record.FallbackWhen that sends clicks to the plan B also while the target earns
// nothing (health state untagged), not only while it is gone.
const FallbackUntagged = "untagged"

// ClickCount is what a batch of clicks adds to one short link's counters on one UTC day. A store accepts
// only a non-empty id without braces, a Day that is a "20060102" date, and no negative numbers.
type ClickCount struct {
	ID     string // short-link id
	Day    string // UTC day, "20060102"
	Clicks int64  // human visits, scans included
	Scans  int64  // the part of Clicks that came through the link's QR code
	Bio    int64  // the part of Clicks that came from a bio page (/{id}?src=bio)
	// Writer and Seq, when Writer is set, make the count idempotent: the store applies a count
	// of a writer only if Seq is above the last one it applied for that writer and link, so a
	// batch written twice (a retry after a time-out that did land) counts once. A writer's
	// batches must be applied in increasing Seq: it retries a failed batch, unchanged, before
	// writing a newer one.
	Writer string
	Seq    uint64
}

// Stats is a short link's click counts: totals over its life and per day. An id never clicked has zero
// counts; that is not an error.
type Stats struct {
	Clicks int64 // human visits over the link's life, scans included
	Scans  int64 // the part of Clicks that came through its QR code
	Bio    int64 // the part of Clicks that came from a bio page
	Daily  []Day // per UTC day, oldest first
	// Visitors is the sum of the Daily days' distinct visitors (a visitor is named anew each day).
	Visitors int64
}

// Day is one UTC day's counts in Stats.
type Day struct {
	Date     string // "2006-01-02"
	Clicks   int64
	Scans    int64
	Bio      int64 // the part of Clicks that came from a bio page
	Visitors int64 // distinct visitors counted that day
}

// ValidChannel reports whether s has the form of a tracking id (a channel of ALIEXPRESS_TRACKING_IDS):
// 1 to 64 letters, digits, _ or -.
func ValidChannel(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
