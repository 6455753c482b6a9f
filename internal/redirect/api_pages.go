package redirect

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/julienschmidt/httprouter"

	"github.com/redirector/redirector/internal/aliurl"
	"github.com/redirector/redirector/internal/bio"
	"github.com/redirector/redirector/internal/link"
)

// pageBody is the body of POST /api/pages.
type pageBody struct {
	Handle string     `json:"handle"`
	Title  string     `json:"title"`
	Text   string     `json:"text"`
	Avatar string     `json:"avatar"`
	Items  []bio.Item `json:"items"`
}

// pagePatch is the body of PATCH /api/pages/{handle}: the fields given replace the page's.
type pagePatch struct {
	Handle *string     `json:"handle"`
	Title  *string     `json:"title"`
	Text   *string     `json:"text"`
	Avatar *string     `json:"avatar"`
	Items  *[]bio.Item `json:"items"`
}

// pageJSON is a page as the admin API shows it.
type pageJSON struct {
	bio.Page
	URL   string `json:"url"`
	Views *int64 `json:"views,omitempty"`
}

func toPageJSON(d Deps, p bio.Page) pageJSON {
	if p.Items == nil {
		p.Items = []bio.Item{}
	}
	return pageJSON{Page: p, URL: d.BaseURL + "/@" + p.Handle}
}

// handlePageCreate serves POST /api/pages: 201 with the page; 400 for a bad page or an item whose
// link does not exist or whose URL is not accepted (nothing is written then); 409 when another
// page has the handle in any case. URL items become short links (ShortLinks.Create) once every
// item has passed.
func handlePageCreate(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		var body pageBody
		if !decodeBody(w, r, &body) {
			return
		}
		now := d.Now().UTC().Truncate(1e6)
		p := bio.Page{Handle: body.Handle, Title: body.Title, Text: body.Text, Avatar: body.Avatar, Items: body.Items, Created: now, Updated: now}
		// A taken handle is refused before any URL item becomes a short link.
		if _, taken, err := d.Bio.Pages.Get(ctx, body.Handle); err != nil || taken {
			if err == nil {
				err = link.ErrExists
			}
			failPage(w, d, err)
			return
		}
		if err := savePage(ctx, d, &p, nil, d.Bio.Pages.Create); err != nil {
			failPage(w, d, err)
			return
		}
		writeJSON(w, http.StatusCreated, toPageJSON(d, p))
	})
}

// savePage checks p, makes sure each id item is a live link (but those in kept: the items a page
// had already, which stay, deleted or not, and are shown only while live), accepts each URL item,
// and only then creates the URL items' short links and writes p with write; every replica is told.
func savePage(ctx context.Context, d Deps, p *bio.Page, kept map[string]bool, write func(context.Context, bio.Page) error) error {
	if err := bio.Check(*p, false); err != nil {
		return err
	}
	pages := make([]aliurl.Page, len(p.Items))
	for i, it := range p.Items {
		switch {
		case it.URL != "":
			page, err := accept(ctx, d, it.URL)
			if err != nil {
				return link.Invalid(fmt.Sprintf("items[%d]: %v", i, err))
			}
			pages[i] = page
		case it.ID != "" && !kept[it.ID]:
			l, ok, err := d.Targets.Link(ctx, it.ID)
			if err != nil {
				return err
			}
			if !ok || !l.Recorded {
				return link.Invalid(fmt.Sprintf("items[%d]: no short link has the id %q", i, it.ID))
			}
		}
	}
	for i, it := range p.Items {
		if it.URL == "" {
			continue
		}
		rec, _, err := d.ShortLinks.Create(ctx, pages[i], "", d.Now())
		if err != nil {
			return fmt.Errorf("items[%d]: %w", i, err)
		}
		p.Items[i] = bio.Item{ID: rec.ID, Caption: it.Caption}
	}
	if err := write(ctx, *p); err != nil {
		return err
	}
	key, _ := bio.Key(p.Handle)
	if d.Bio.Changed != nil {
		d.Bio.Changed(ctx, key)
	}
	return nil
}

// handlePageList serves GET /api/pages: every page, oldest first.
func handlePageList(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pages, err := d.Bio.Pages.List(r.Context())
		if err != nil {
			failPage(w, d, err)
			return
		}
		out := struct {
			Pages []pageJSON `json:"pages"`
		}{Pages: make([]pageJSON, 0, len(pages))}
		for _, p := range pages {
			out.Pages = append(out.Pages, toPageJSON(d, p))
		}
		writeJSON(w, http.StatusOK, out)
	})
}

// handlePageGet serves GET /api/pages/{handle} (in any case): the page with its views.
func handlePageGet(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		p, ok := loadPage(w, r, d)
		if !ok {
			return
		}
		views, err := d.Bio.Pages.Views(ctx, p.Handle)
		if err != nil {
			failPage(w, d, err)
			return
		}
		out := toPageJSON(d, p)
		out.Views = &views
		writeJSON(w, http.StatusOK, out)
	})
}

// handlePageUpdate serves PATCH /api/pages/{handle}: the fields given replace the page's, by the
// rules of POST. The handle can change only in case.
func handlePageUpdate(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		var body pagePatch
		if !decodeBody(w, r, &body) {
			return
		}
		p, ok := loadPage(w, r, d)
		if !ok {
			return
		}
		if body.Handle != nil {
			if !strings.EqualFold(*body.Handle, p.Handle) {
				failPage(w, d, link.Invalid("a page's handle can change only in case; create a new page for another handle"))
				return
			}
			p.Handle = *body.Handle
		}
		for _, f := range []struct {
			from *string
			to   *string
		}{{body.Title, &p.Title}, {body.Text, &p.Text}, {body.Avatar, &p.Avatar}} {
			if f.from != nil {
				*f.to = *f.from
			}
		}
		kept := make(map[string]bool, len(p.Items))
		for _, it := range p.Items {
			kept[it.ID] = it.ID != ""
		}
		if body.Items != nil {
			p.Items = *body.Items
		}
		p.Updated = d.Now().UTC().Truncate(1e6)
		if err := savePage(ctx, d, &p, kept, d.Bio.Pages.Replace); err != nil {
			failPage(w, d, err)
			return
		}
		writeJSON(w, http.StatusOK, toPageJSON(d, p))
	})
}

// handlePageDelete serves DELETE /api/pages/{handle}: 204, and /@{handle} answers 404 from then on.
func handlePageDelete(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		key, ok := bio.Key(httprouter.ParamsFromContext(ctx).ByName("handle"))
		if !ok {
			failPage(w, d, link.ErrNotFound)
			return
		}
		if err := d.Bio.Pages.Delete(ctx, key); err != nil {
			failPage(w, d, err)
			return
		}
		if d.Bio.Changed != nil {
			d.Bio.Changed(ctx, key)
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

// loadPage reads the page the path names, answering 404 (or the store's error) itself.
func loadPage(w http.ResponseWriter, r *http.Request, d Deps) (bio.Page, bool) {
	p, ok, err := d.Bio.Pages.Get(r.Context(), httprouter.ParamsFromContext(r.Context()).ByName("handle"))
	if err == nil && !ok {
		err = link.ErrNotFound
	}
	if err != nil {
		failPage(w, d, err)
		return bio.Page{}, false
	}
	return p, true
}

// failPage is fail with the words of pages.
func failPage(w http.ResponseWriter, d Deps, err error) {
	switch {
	case errors.Is(err, link.ErrNotFound) && !errors.Is(err, link.ErrInvalid):
		writeError(w, http.StatusNotFound, "no such page")
	case errors.Is(err, link.ErrExists):
		writeError(w, http.StatusConflict, "the handle is taken (handles are the same in any case)")
	default:
		fail(w, d, err, "")
	}
}
