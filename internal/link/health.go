package link

import "time"

// HealthState says whether a short link's target still earns. See internal/health for how each is
// found and what a click gets in each.
type HealthState string

// The health states.
const (
	HealthUnknown  HealthState = "unknown"  // not checked yet
	HealthOK       HealthState = "ok"       // a product with a current affiliate link
	HealthUntagged HealthState = "untagged" // the platform answers "not promotable": no commission
	HealthGone     HealthState = "gone"     // the platform has no product details any more
	HealthPage     HealthState = "page"     // a store or other page: only its tagging is checked
)

// HealthStates lists every state, in the order reports show them.
var HealthStates = []HealthState{HealthOK, HealthUntagged, HealthGone, HealthUnknown, HealthPage}

// ParseHealthState returns the state named s; ok is false when s names none.
func ParseHealthState(s string) (HealthState, bool) {
	for _, st := range HealthStates {
		if string(st) == s {
			return st, true
		}
	}
	return "", false
}

// Product is what the platform last said about a product: its identity and what it earns. Price is a
// decimal string in Currency; CommissionRate the platform's words ("7.0%"); Store the seller's store page
// (an accepted AliExpress URL) when known.
type Product struct {
	ID, Title, Image, Price, Currency, CommissionRate, Store string
}

// Health is a short link's health: its state, when that state was last seen, and the product last known.
// The zero Health is HealthUnknown, never seen.
type Health struct {
	State   HealthState
	Seen    time.Time // when State was last seen (millisecond precision, UTC when read); zero: never
	Product Product   // zero when the target is not a product or was never answered for
}
