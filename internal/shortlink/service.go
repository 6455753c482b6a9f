package shortlink

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redirector/redirector/internal/aliurl"
	"github.com/redirector/redirector/internal/health"
	"github.com/redirector/redirector/internal/link"
	"github.com/redirector/redirector/internal/shortid"
)

// ErrNoFreeID is returned by Service.Create when every random id it drew was taken: nothing was
// written, and trying again will most likely succeed.
var ErrNoFreeID = errors.New("could not draw a free id")

// drawTries bounds the random ids Create draws for one page before it gives up with ErrNoFreeID.
const drawTries = 5

// Records is where a Service writes short links; *store.Records is one. Its errors wrap link.ErrExists
// and link.ErrNotFound as each method's comment says.
type Records interface {
	Store
	// Create stores rec under rec.ID; link.ErrExists when a live record has that id.
	Create(ctx context.Context, rec link.Record) error
	// CreateSlug is Create for a custom slug, which it also takes ignoring case: link.ErrExists when
	// another live link has the slug in another case.
	CreateSlug(ctx context.Context, rec link.Record) error
	// CreateForTarget gives a page one id, also under concurrent creates: it returns the live link
	// already made for rec.Target (created false) or stores rec (created true); link.ErrExists when
	// rec.ID is taken by another record, live or deleted.
	CreateForTarget(ctx context.Context, rec link.Record) (got link.Record, created bool, err error)
	// Retarget points the live link id at target; link.ErrNotFound when there is none.
	Retarget(ctx context.Context, id, target string, now time.Time) (link.Record, error)
	// Patch changes the live link id's target and plan B, with its diversion recomputed by divert, in
	// one atomic write; link.ErrNotFound when there is none, link.ErrInvalid when the link as patched
	// would have a fallback_when without a fallback (nothing is written then).
	Patch(ctx context.Context, id string, p link.Patch, now time.Time, divert func(link.Record, link.Health) string) (link.Record, error)
	// Delete leaves a tombstone for the live link id; link.ErrNotFound when there is none.
	Delete(ctx context.Context, id string, now time.Time) error
}

// Changes is told of every short link a Service created, retargeted or deleted, so that no process
// answers the old target from its first tier; *invalidate.Owner is one.
type Changes interface {
	RecordChanged(ctx context.Context, id string)
}

// Service is the policy of short links: which id a new link gets, and what a change must reach.
// Safe for concurrent use.
type Service struct {
	records Records
	changes Changes
}

// NewService returns a Service that writes to records and tells changes of every write.
func NewService(records Records, changes Changes) *Service {
	return &Service{records: records, changes: changes}
}

// Create makes a short link to page, which must be an accepted page (aliurl.Parse's, a share link
// followed to its page already), at time now (kept to the millisecond, in UTC). The id is:
//   - slug, when slug is not empty: link.ErrInvalid (its text saying why) when it is not a valid
//     slug (shortid.CheckSlug), link.ErrExists when a live link has it in any case (slugs are
//     matched ignoring case: Lookup);
//   - for a product page, the product's code (shortid.Product), so the link resolves from its id
//     alone; if the code is taken by a live link to this very page, that link is returned with
//     created false; if the code was retargeted or deleted, the page gets a random id instead;
//   - for any other page, a random id, one per page: a live link made for the page earlier is
//     returned with created false, and creates of one page that race agree on one id, only one of
//     them with created true.
//
// ErrNoFreeID when the random ids drawn were all taken; any other error is the store's, and nothing
// was written. Every link created is announced to Changes before Create returns.
func (s *Service) Create(ctx context.Context, page aliurl.Page, slug string, now time.Time) (rec link.Record, created bool, err error) {
	return s.CreateSpec(ctx, Spec{Page: page, Slug: slug}, now)
}

// Spec is what a new short link is made of: its page, the slug asked for (or none), and its plan B.
type Spec struct {
	Page aliurl.Page
	Slug string
	// Fallback, when its URL is not empty, is where clicks go while Page is gone (an accepted page,
	// not a share link); FallbackWhen is "" or link.FallbackUntagged (also while Page earns nothing).
	Fallback     aliurl.Page
	FallbackWhen string
	// Channel is the tracking id the link's clicks are tagged with, one the caller has checked; "": the
	// default channel. A link on another channel never takes a product code or the page's shared id
	// (those lead to the default channel): it gets its slug, or a random id of its own.
	Channel string
	// Labels are the link's campaign names (checked and kept as link.NewLabels says).
	Labels []string
}

// CreateSpec is Create with a plan B: the link made is stored with spec's Fallback and FallbackWhen.
// A link returned with created false (one made for the page before) keeps its own. link.ErrInvalid
// when the fallback is a share link or FallbackWhen is neither "" nor "untagged", or when FallbackWhen
// is given without a fallback.
func (s *Service) CreateSpec(ctx context.Context, spec Spec, now time.Time) (rec link.Record, created bool, err error) {
	page, slug := spec.Page, spec.Slug
	if page.URL == "" || page.Kind == aliurl.Share {
		return link.Record{}, false, link.Invalid("the link's target must be a page, not a share link")
	}
	switch {
	case spec.Fallback.URL != "" && spec.Fallback.Kind == aliurl.Share:
		return link.Record{}, false, link.Invalid("fallback_url must be a page, not a share link")
	case spec.FallbackWhen != "" && spec.FallbackWhen != link.FallbackUntagged:
		return link.Record{}, false, link.Invalid(`fallback_when must be "untagged" or left out`)
	case spec.FallbackWhen != "" && spec.Fallback.URL == "":
		return link.Record{}, false, link.Invalid("fallback_when needs a fallback_url")
	}
	labels, err := link.NewLabels(spec.Labels)
	if err != nil {
		return link.Record{}, false, err
	}
	now = now.UTC().Truncate(time.Millisecond)
	rec = link.Record{Target: page.URL, Created: now, Updated: now, Fallback: spec.Fallback.URL, FallbackWhen: spec.FallbackWhen, Channel: spec.Channel, Labels: labels}
	if slug != "" {
		if err := shortid.CheckSlug(slug); err != nil {
			return link.Record{}, false, link.Invalid(err.Error())
		}
		rec.ID = slug
		if err := s.records.CreateSlug(ctx, rec); err != nil {
			return link.Record{}, false, err
		}
		s.changes.RecordChanged(ctx, rec.ID)
		return rec, true, nil
	}
	if spec.Channel != "" {
		return s.createOwnID(ctx, rec)
	}
	if page.Kind == aliurl.Product {
		if id, err := shortid.Product(page.ID); err == nil {
			rec.ID = id
			err := s.records.Create(ctx, rec)
			if err == nil {
				s.changes.RecordChanged(ctx, rec.ID)
				return rec, true, nil
			}
			if !errors.Is(err, link.ErrExists) {
				return link.Record{}, false, err
			}
			if old, ok, err := s.records.Get(ctx, id); err == nil && ok && !old.Deleted && old.Target == page.URL {
				return old, false, nil
			}
			// The product code now points elsewhere (retargeted): give this page an id of its own.
		}
	}
	// Any other page gets a random id, one per page: racing creates agree on it (CreateForTarget).
	for range drawTries {
		id, err := shortid.New()
		if err != nil {
			return link.Record{}, false, fmt.Errorf("draw an id: %w", err)
		}
		rec.ID = id
		got, isNew, err := s.records.CreateForTarget(ctx, rec)
		if errors.Is(err, link.ErrExists) {
			continue // a collision: draw again
		}
		if err != nil {
			return link.Record{}, false, err
		}
		if isNew {
			s.changes.RecordChanged(ctx, got.ID)
		}
		return got, isNew, nil
	}
	return link.Record{}, false, ErrNoFreeID
}

// Retarget points the live short link id at page (an accepted page, as for Create) from now on, and
// returns the record as it now is; link.ErrNotFound when no live link has the id. The change is
// announced to Changes before Retarget returns.
func (s *Service) Retarget(ctx context.Context, id string, page aliurl.Page, now time.Time) (link.Record, error) {
	if page.URL == "" || page.Kind == aliurl.Share {
		return link.Record{}, link.Invalid("the link's target must be a page, not a share link")
	}
	rec, err := s.records.Retarget(ctx, id, page.URL, now.UTC().Truncate(time.Millisecond))
	if err != nil {
		return link.Record{}, err
	}
	s.changes.RecordChanged(ctx, id)
	return rec, nil
}

// PatchSpec is a change to a short link: a nil field is left as it is.
type PatchSpec struct {
	// Target, when set, is the link's new page (an accepted page, as for Create).
	Target *aliurl.Page
	// Fallback, when set, is the new plan B (an accepted page, not a share link); a zero Page (URL "")
	// clears it, and its FallbackWhen too unless FallbackWhen is set.
	Fallback *aliurl.Page
	// FallbackWhen, when set, is "" or link.FallbackUntagged.
	FallbackWhen *string
	// Labels, when set, replace the link's labels (checked as link.NewLabels says; empty: none).
	Labels *[]string
}

// Patch changes the live short link id as spec says, in one atomic write, and returns the record as it
// now is. Where its clicks go is decided again at once by health.Divert: a link diverted because its
// product is gone goes to a new plan B from the next click, and to the store or search page when its
// plan B is cleared. A new target drops the health found for the old one (as Retarget).
//
// link.ErrInvalid (nothing written) when spec changes nothing, a page is a share link, FallbackWhen is
// neither "" nor "untagged", or the link as patched would have a FallbackWhen without a fallback;
// link.ErrNotFound when no live link has the id. The change is announced to Changes before Patch returns.
func (s *Service) Patch(ctx context.Context, id string, spec PatchSpec, now time.Time) (link.Record, error) {
	var p link.Patch
	switch {
	case spec.Target == nil && spec.Fallback == nil && spec.FallbackWhen == nil && spec.Labels == nil:
		return link.Record{}, link.Invalid("nothing to change: give url, fallback_url, fallback_when or labels")
	case spec.Target != nil && (spec.Target.URL == "" || spec.Target.Kind == aliurl.Share):
		return link.Record{}, link.Invalid("the link's target must be a page, not a share link")
	case spec.Fallback != nil && spec.Fallback.URL != "" && spec.Fallback.Kind == aliurl.Share:
		return link.Record{}, link.Invalid("fallback_url must be a page, not a share link")
	case spec.FallbackWhen != nil && *spec.FallbackWhen != "" && *spec.FallbackWhen != link.FallbackUntagged:
		return link.Record{}, link.Invalid(`fallback_when must be "untagged" or ""`)
	}
	if spec.Target != nil {
		p.Target = &spec.Target.URL
	}
	if spec.Fallback != nil {
		p.Fallback = &spec.Fallback.URL
	}
	p.FallbackWhen = spec.FallbackWhen
	if spec.Labels != nil {
		labels, err := link.NewLabels(*spec.Labels)
		if err != nil {
			return link.Record{}, err
		}
		p.Labels = &labels
	}
	rec, err := s.records.Patch(ctx, id, p, now.UTC().Truncate(time.Millisecond), health.Divert)
	if err != nil {
		return link.Record{}, err
	}
	s.changes.RecordChanged(ctx, id)
	return rec, nil
}

// Delete deletes the live short link id: from then on it leads nowhere, also when it is a product
// code, and a slug is free to be created again. link.ErrNotFound when no live link has the id. The
// change is announced to Changes before Delete returns.
func (s *Service) Delete(ctx context.Context, id string, now time.Time) error {
	if err := s.records.Delete(ctx, id, now.UTC().Truncate(time.Millisecond)); err != nil {
		return err
	}
	s.changes.RecordChanged(ctx, id)
	return nil
}

// CreateOn is Create on a channel (a tracking id the caller has checked; "" is the default channel,
// and the same as Create): see Spec.Channel.
func (s *Service) CreateOn(ctx context.Context, page aliurl.Page, slug, channel string, now time.Time) (rec link.Record, created bool, err error) {
	return s.CreateSpec(ctx, Spec{Page: page, Slug: slug, Channel: channel}, now)
}

// createOwnID stores rec under a random id that no other page shares.
func (s *Service) createOwnID(ctx context.Context, rec link.Record) (link.Record, bool, error) {
	for range drawTries {
		id, err := shortid.New()
		if err != nil {
			return link.Record{}, false, fmt.Errorf("draw an id: %w", err)
		}
		rec.ID = id
		err = s.records.Create(ctx, rec)
		if errors.Is(err, link.ErrExists) {
			continue
		}
		if err != nil {
			return link.Record{}, false, err
		}
		s.changes.RecordChanged(ctx, rec.ID)
		return rec, true, nil
	}
	return link.Record{}, false, ErrNoFreeID
}
