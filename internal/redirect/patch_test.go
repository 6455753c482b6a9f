package redirect

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/redirector/redirector/internal/affiliate/affiliatetest"
	"github.com/redirector/redirector/internal/link"
)

// goneLink makes a link to product i (which names its store) on e, lets a check learn the product, removes it
// from the platform and checks again: the link is gone, with no plan B. It returns the link's id and the
// store page its clicks go to.
func goneLink(t *testing.T, e *env, i int) (id, storePage string) {
	t.Helper()
	storePage = fmt.Sprintf("https://www.aliexpress.com/store/%d", 910000+i)
	e.platform.SetProduct(strconv.FormatInt(productID(i), 10), affiliatetest.Product{
		Title: "Folding camp chair", ImageURL: "https://ae01.alicdn.com/kf/chair.jpg", Price: "19.99", Currency: "USD", ShopURL: storePage})
	l := e.createH(fmt.Sprintf(`{"url": %q}`, product(i)), http.StatusCreated)
	if _, err := e.monitor.CheckAll(t.Context()); err != nil {
		t.Fatalf("first CheckAll: %v", err)
	}
	e.platform.RemoveProduct(strconv.FormatInt(productID(i), 10))
	if _, err := e.monitor.CheckAll(t.Context()); err != nil {
		t.Fatalf("second CheckAll: %v", err)
	}
	return l.ID, canonical(t, storePage)
}

// patchH is a PATCH of /api/links/{id} that must answer 200; it returns the link as answered.
func (e *env) patchH(id, body string) healthLink {
	e.t.Helper()
	r := e.api(http.MethodPatch, "/api/links/"+id, body)
	if r.status != http.StatusOK {
		e.t.Fatalf("PATCH /api/links/%s %s = %s, want 200", id, body, r)
	}
	var l healthLink
	decode(e.t, r, &l)
	return l
}

// TestPatchPlanB: a plan B set by PATCH on a link already gone takes its clicks from the next one (the first
// tier, which held the store page, is told: the change is announced like a retarget); cleared, the clicks
// go back to the store page.
func TestPatchPlanB(t *testing.T) {
	e := newEnv(t, envOptions{Health: true})
	p := e.platform
	id, storePage := goneLink(t, e, 1)
	click := func(what, dest string) {
		t.Helper()
		if r := e.get("/" + id); r.status != http.StatusFound || r.header.Get("Location") != p.Link(dest) {
			t.Fatalf("%s: click = %s, want 302 to %s (the tagged %s)", what, r, p.Link(dest), dest)
		}
	}
	click("gone without a plan B", storePage)
	click("gone without a plan B, again", storePage) // from the first tier now

	l := e.patchH(id, fmt.Sprintf(`{"fallback_url": %q}`, product(2)))
	if l.FallbackURL != product(2) || l.FallbackWhen != "" || l.Target != product(1) || l.Health == nil || l.Health.State != "gone" {
		t.Errorf("PATCH fallback_url answered fallback %q when %q target %q health %+v; want %q, \"\", %q, gone",
			l.FallbackURL, l.FallbackWhen, l.Target, l.Health, product(2), product(1))
	}
	click("plan B set", product(2))

	l = e.patchH(id, fmt.Sprintf(`{"fallback_url": %q, "fallback_when": "untagged"}`, product(3)))
	if l.FallbackURL != product(3) || l.FallbackWhen != link.FallbackUntagged {
		t.Errorf("PATCH plan B changed: fallback %q when %q, want %q untagged", l.FallbackURL, l.FallbackWhen, product(3))
	}
	click("plan B changed", product(3))

	for _, clear := range []string{`{"fallback_url": null}`, `{"fallback_url": ""}`, `{"fallback_url": "", "fallback_when": ""}`} {
		e.patchH(id, fmt.Sprintf(`{"fallback_url": %q}`, product(2)))
		l = e.patchH(id, clear)
		if l.FallbackURL != "" || l.FallbackWhen != "" {
			t.Errorf("PATCH %s left fallback %q when %q, want none", clear, l.FallbackURL, l.FallbackWhen)
		}
		click("plan B cleared with "+clear, storePage)
		rec, _, err := e.records.Get(t.Context(), id)
		if err != nil || rec.Fallback != "" || rec.FallbackWhen != "" || rec.Divert != storePage {
			t.Errorf("record after %s = %+v, %v; want no plan B and divert %q", clear, rec, err, storePage)
		}
	}

	// url and plan B in one request: the new target is not known to be gone, so clicks go to it.
	l = e.patchH(id, fmt.Sprintf(`{"url": %q, "fallback_url": %q}`, product(4), product(5)))
	if l.Target != product(4) || l.FallbackURL != product(5) {
		t.Errorf("PATCH url and fallback_url answered target %q fallback %q, want %q %q", l.Target, l.FallbackURL, product(4), product(5))
	}
	click("retargeted with a plan B", product(4))
}

// TestPatchPlanBRefused: a bad field refuses the whole PATCH with 400 and a reason, and nothing is written,
// also when another field of the request was good.
func TestPatchPlanBRefused(t *testing.T) {
	e := newEnv(t, envOptions{Health: true})
	id, _ := goneLink(t, e, 1)
	before, _, err := e.records.Get(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, body, reason string }{
		{"fallback off aliexpress", `{"fallback_url": "https://evil.example.com/item/1.html"}`, "fallback_url"},
		{"fallback off aliexpress with a good url", fmt.Sprintf(`{"url": %q, "fallback_url": "https://evil.example.com/"}`, product(2)), "fallback_url"},
		{"good fallback with a bad url", fmt.Sprintf(`{"url": "https://evil.example.com/", "fallback_url": %q}`, product(2)), "AliExpress"},
		{"when without a fallback", `{"fallback_when": "untagged"}`, "fallback_url"},
		{"when with the fallback cleared", `{"fallback_url": null, "fallback_when": "untagged"}`, "fallback_url"},
		{"unknown when", fmt.Sprintf(`{"fallback_url": %q, "fallback_when": "always"}`, product(2)), "fallback_when"},
		{"fallback not a string", `{"fallback_url": 5}`, "fallback_url"},
		{"url null", `{"url": null}`, "url"},
		{"nothing", `{}`, "nothing to change"},
		{"slug", `{"slug": "new-name"}`, "cannot be changed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.api(http.MethodPatch, "/api/links/"+id, tc.body)
			if msg := apiError(t, "PATCH "+tc.body, r, http.StatusBadRequest); !strings.Contains(msg, tc.reason) {
				t.Errorf("PATCH %s error %q does not say %q", tc.body, msg, tc.reason)
			}
			after, _, err := e.records.Get(t.Context(), id)
			if err != nil || after != before {
				t.Errorf("record after refused PATCH %s = %+v, %v; want unchanged %+v", tc.body, after, err, before)
			}
		})
	}
	apiError(t, "PATCH plan B of an unknown link", e.api(http.MethodPatch, "/api/links/no-such-link", fmt.Sprintf(`{"fallback_url": %q}`, product(2))), http.StatusNotFound)
	if r := e.api(http.MethodDelete, "/api/links/"+id, ""); r.status != http.StatusNoContent {
		t.Fatalf("DELETE = %s", r)
	}
	apiError(t, "PATCH plan B of a deleted link", e.api(http.MethodPatch, "/api/links/"+id, fmt.Sprintf(`{"fallback_url": %q}`, product(2))), http.StatusNotFound)
	if rec, _, _ := e.records.Get(t.Context(), id); rec.Fallback != "" {
		t.Errorf("a PATCH of a deleted link wrote its plan B %q", rec.Fallback)
	}
}

// TestPatchPlanBConcurrent: PATCHes racing on one gone link each land whole: once they are done, the link's
// diversion is the one its final plan B makes (the plan B, or the store page when cleared), never a mix.
func TestPatchPlanBConcurrent(t *testing.T) {
	e := newEnv(t, envOptions{Health: true})
	id, storePage := goneLink(t, e, 1)
	const n = 24
	var wg sync.WaitGroup
	statuses := make([]int, n)
	for i := range n {
		wg.Go(func() {
			body := fmt.Sprintf(`{"fallback_url": %q, "fallback_when": "untagged"}`, product(10+i))
			switch i % 4 {
			case 0:
				body = `{"fallback_url": null}`
			case 1: // a part of the plan B: decided from the rest as read, so it races the others
				body = `{"fallback_when": ""}`
			}
			statuses[i] = e.api(http.MethodPatch, "/api/links/"+id, body).status
		})
	}
	wg.Wait()
	for i, st := range statuses {
		if st != http.StatusOK {
			t.Errorf("concurrent PATCH %d = %d, want 200", i, st)
		}
	}
	rec, _, err := e.records.Get(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	want := rec.Fallback
	if want == "" {
		want = storePage
		if rec.FallbackWhen != "" {
			t.Errorf("record %+v has fallback_when without a plan B", rec)
		}
	}
	if rec.Divert != want {
		t.Errorf("after concurrent PATCHes, record %+v diverts to %q, want %q (from its plan B %q)", rec, rec.Divert, want, rec.Fallback)
	}
	if r := e.get("/" + id); r.header.Get("Location") != e.platform.Link(want) {
		t.Errorf("click after concurrent PATCHes = %s, want %s", r, e.platform.Link(want))
	}
}
