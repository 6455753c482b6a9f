// Package backup is the JSON Lines form of the records, their click totals and the bio pages:
// what GET /api/export and `redirector export` write, and what POST /api/import and
// `redirector import` read back, check and restore.
package backup

import (
	"errors"
	"fmt"
	"time"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/redirector/redirector/internal/bio"
	"github.com/redirector/redirector/internal/link"
)

// Line is one record in the JSON Lines form of GET /api/export and `redirector export`,
// which `redirector import` reads back. Clicks and Scans are the link's totals; lines without them
// (files made before they were exported) import as before.
type Line struct {
	ID        string    `json:"id"`
	Target    string    `json:"target"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	Deleted   bool      `json:"deleted,omitempty"`
	Channel   string    `json:"channel,omitempty"` // the tracking id, absent for the default channel
	// The plan B (an accepted, canonical page) and when it applies; health is found again after import.
	FallbackURL  string `json:"fallback_url,omitempty"`
	FallbackWhen string `json:"fallback_when,omitempty"`
	Clicks       int64  `json:"clicks,omitempty"`
	Scans        int64  `json:"scans,omitempty"`
	// Labels are the link's campaign names (link.Labels); absent for none.
	Labels []string `json:"labels,omitempty"`
	// Kind is empty for a short link. "page" is a bio page, whole in Page, the fields above
	// absent (see PageLine): files written before pages existed read as they did.
	Kind string    `json:"kind,omitempty"`
	Page *bio.Page `json:"page,omitempty"`
}

// PageLine is a bio page in an export: {"kind":"page","page":{…}}. Pages come after the
// short links their items name.
type PageLine struct {
	Kind string   `json:"kind"`
	Page bio.Page `json:"page"`
}

// KindPage is the Kind of an export line that holds a bio page.
const KindPage = "page"

// NewPageLine is p as an export line.
func NewPageLine(p bio.Page) PageLine {
	p.Created, p.Updated = p.Created.UTC(), p.Updated.UTC()
	return PageLine{Kind: KindPage, Page: p}
}

// NewLine is rec as an export line, with its totals.
func NewLine(rec link.Record, totals link.Stats) Line {
	return Line{
		ID: rec.ID, Target: rec.Target, CreatedAt: rec.Created.UTC(), UpdatedAt: rec.Updated.UTC(), Deleted: rec.Deleted,
		Channel: rec.Channel, Clicks: totals.Clicks, Scans: totals.Scans,
		FallbackURL: rec.Fallback, FallbackWhen: rec.FallbackWhen, Labels: rec.Labels.All(),
	}
}

// StrictJSON are the options lines are read with, and the API's bodies (internal/redirect). Names
// match exactly: encoding/json would take "URL" for "url", and keep the last of a name given twice, so
// what one reader sees could differ from what another sees. A name given twice is an error, and so is
// a name the type does not have.
var StrictJSON = jsonv2.JoinOptions(
	jsonv2.MatchCaseInsensitiveNames(false),
	jsontext.AllowDuplicateNames(false),
	jsonv2.RejectUnknownMembers(true),
)

// ParseLine reads one line of an export strictly: exact names, none twice, none unknown. It checks
// the form only; CheckRecord, CheckPage and Parse check the values.
func ParseLine(b []byte) (Line, error) {
	var l Line
	if err := jsonv2.Unmarshal(b, &l, StrictJSON); err != nil {
		return Line{}, errors.New(JSONReason(err))
	}
	return l, nil
}

// JSONReason is a short reason for an error of reading JSON with StrictJSON: the unknown or
// duplicate field named, else the decoder's own words.
func JSONReason(err error) string {
	var sem *jsonv2.SemanticError
	var syn *jsontext.SyntacticError
	switch {
	case errors.As(err, &sem) && errors.Is(sem.Err, jsonv2.ErrUnknownName):
		return fmt.Sprintf("unknown field %q (names are exact, in lower case)", sem.JSONPointer.LastToken())
	case errors.As(err, &syn) && errors.Is(syn.Err, jsontext.ErrDuplicateName):
		return fmt.Sprintf("duplicate field %q", syn.JSONPointer.LastToken())
	}
	return err.Error()
}
