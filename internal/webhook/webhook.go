// Package webhook sends signed notifications of the service's events to URLs that their owners registered,
// at least once, from a queue in Redis that every replica shares.
package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Event names what happened.
type Event string

// The events a webhook can subscribe to.
const (
	LinkCreated   Event = "link.created"
	LinkUpdated   Event = "link.updated"
	LinkDeleted   Event = "link.deleted"
	HealthChanged Event = "link.health_changed"
	OrderUpdated  Event = "order.updated"
)

// Events are every Event, in the order the documentation lists them.
var Events = []Event{LinkCreated, LinkUpdated, LinkDeleted, HealthChanged, OrderUpdated}

// Headers of a delivery.
const (
	// SignatureHeader carries "t=<unix seconds>,v1=<hex HMAC-SHA256 of t + "." + body, keyed by the secret>".
	SignatureHeader = "Redirector-Signature"
	// DeliveryHeader carries the delivery's id, the same on every attempt: a receiver dedupes on it.
	DeliveryHeader = "Redirector-Delivery"
	// EventHeader carries the event's name.
	EventHeader = "Redirector-Event"
)

// Tolerance is how old a signature's timestamp a receiver should accept: older ones are replays.
const Tolerance = 5 * time.Minute

var (
	// ErrInvalid is wrapped by the errors of Register that the caller's input caused; the message says why.
	ErrInvalid = errors.New("invalid webhook")
	// ErrNotFound is returned for a webhook id that is not registered.
	ErrNotFound = errors.New("no such webhook")
	// ErrTooMany is returned by Register when MaxHooks are registered.
	ErrTooMany = errors.New("too many webhooks")
)

func invalid(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, a...))
}

// Sign returns the SignatureHeader value of body sent at t with secret.
func Sign(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac(secret, ts, body))
}

func mac(secret, ts string, body []byte) []byte {
	h := hmac.New(sha256.New, []byte(secret))
	h.Write([]byte(ts))
	h.Write([]byte{'.'})
	h.Write(body)
	return h.Sum(nil)
}

// Verify checks a SignatureHeader value against body as a receiver should: a v1 signature that matches
// (compared in constant time), with a timestamp no further than tolerance from now either way. Several
// v1 values may be given (any one matching passes). A nil error means the delivery is genuine and fresh.
func Verify(secret, header string, body []byte, now time.Time, tolerance time.Duration) error {
	var ts string
	var sigs [][]byte
	for part := range strings.SplitSeq(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			if b, err := hex.DecodeString(v); err == nil {
				sigs = append(sigs, b)
			}
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(sigs) == 0 {
		return errors.New("malformed signature header")
	}
	if age := now.Sub(time.Unix(sec, 0)); age > tolerance || age < -tolerance {
		return errors.New("signature timestamp outside the tolerance: a replay or a wrong clock")
	}
	want := mac(secret, ts, body)
	for _, s := range sigs {
		if hmac.Equal(s, want) {
			return nil
		}
	}
	return errors.New("signature does not match")
}

// Hook is a registered webhook.
type Hook struct {
	ID      string    `json:"id"`
	URL     string    `json:"url"`
	Events  []Event   `json:"events"`
	Secret  string    `json:"secret,omitempty"` // shown once, by Register; List leaves it out
	Created time.Time `json:"created_at"`
}

// Delivery is one event sent (or being sent) to one webhook.
type Delivery struct {
	ID        string    `json:"id"`
	Hook      string    `json:"webhook_id"`
	Event     Event     `json:"event"`
	Created   time.Time `json:"created_at"`
	Attempts  int       `json:"attempts"`
	Status    int       `json:"last_status,omitempty"` // the receiver's last HTTP status, 0 before an answer
	Error     string    `json:"last_error,omitempty"`  // why the last attempt failed
	NextRetry time.Time `json:"next_retry,omitzero"`   // when it is tried again; zero when done
	Delivered time.Time `json:"delivered_at,omitzero"` // when a receiver answered 2xx
	GaveUp    bool      `json:"gave_up,omitempty"`     // true when retries ran out (Options.MaxAge)
	Body      []byte    `json:"body,omitempty"`        // what is sent; only in the store
}

// State is the delivery's state: "pending", "delivered" or "failed".
func (d Delivery) State() string {
	switch {
	case !d.Delivered.IsZero():
		return "delivered"
	case d.GaveUp:
		return "failed"
	}
	return "pending"
}

// ParseEvents checks a list of event names: at least one, each known; duplicates are dropped.
func ParseEvents(names []string) ([]Event, error) {
	if len(names) == 0 {
		return nil, invalid("events: name at least one of %s", eventList())
	}
	var out []Event
	seen := map[Event]bool{}
	for _, n := range names {
		e := Event(n)
		if !known(e) {
			return nil, invalid("events: unknown event %q: want one of %s", n, eventList())
		}
		if !seen[e] {
			seen[e] = true
			out = append(out, e)
		}
	}
	return out, nil
}

func known(e Event) bool {
	for _, k := range Events {
		if k == e {
			return true
		}
	}
	return false
}

func eventList() string {
	s := make([]string, len(Events))
	for i, e := range Events {
		s[i] = string(e)
	}
	return strings.Join(s, ", ")
}

func subscribed(h Hook, e Event) bool {
	for _, x := range h.Events {
		if x == e {
			return true
		}
	}
	return false
}
