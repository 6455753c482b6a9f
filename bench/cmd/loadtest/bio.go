package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// bioItems is how many items the bio scenario's page lists: issue 19's "a page of 20 items".
const bioItems = 20

// bioProduct is the first of the bio page's products (distinct from the other scenarios').
const bioProduct = 1005009000000000

// bioHandle is the bio scenario's page.
const bioHandle = "bench.picks"

// bioMinRatio is issue 19's target: a cached page render at ≥ 0.5× the hardened floor's req/s.
const bioMinRatio = 0.5

// createPage makes the bio page handle listing the short links ids through the admin API.
func (s *service) createPage(ctx context.Context, handle string, ids []string) error {
	type item struct {
		ID      string `json:"id"`
		Caption string `json:"caption,omitempty"`
	}
	page := struct {
		Handle string `json:"handle"`
		Title  string `json:"title"`
		Text   string `json:"text"`
		Items  []item `json:"items"`
	}{Handle: handle, Title: "Bench picks", Text: "The load test's page"}
	for i, id := range ids {
		page.Items = append(page.Items, item{ID: id, Caption: fmt.Sprintf("Pick %d", i+1)})
	}
	body, _ := json.Marshal(page)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.base+"/api/pages", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("create page: %w", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("create page: status %d: %s", resp.StatusCode, strings.TrimSpace(string(b)))
	}
	return nil
}

// getPage asks url once as a browser and returns the status and the body's length.
func getPage(ctx context.Context, url string) (int, int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, 0, err
	}
	req.Header.Set("User-Agent", userAgent)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, len(b), err
}

// bioPage is scenario bio (issue 19): every request a person's view of one 20-item bio page,
// pre-created through the API and rendered once, then served from the renderer's cache; each view
// is counted (de-duplicated per visitor) as the service does.
func (h *harness) bioPage(ctx context.Context, svc *service, rep *report) error {
	ids := make([]string, bioItems)
	for i := range ids {
		id, err := svc.createLink(ctx, productURL(bioProduct+uint64(i)))
		if err != nil {
			return err
		}
		ids[i] = id
	}
	if err := svc.createPage(ctx, bioHandle, ids); err != nil {
		return err
	}
	// The first view renders the page (its products' details asked of the platform); every later one
	// is the kept render.
	code, size, err := getPage(ctx, svc.base+"/@"+bioHandle)
	if err != nil {
		return fmt.Errorf("bio warm-up: %w", err)
	}
	if code != http.StatusOK {
		return fmt.Errorf("bio warm-up: GET /@%s answered %d, want 200", bioHandle, code)
	}
	c, _, err := h.compare(ctx, rep, svc, wrkSpec{url: "/@" + bioHandle, conns: h.opts.workers},
		"bio", fmt.Sprintf("bio: a cached %d-item bio page (`/@handle`, %s, views counted)", bioItems, bytesSize(size)))
	if err != nil {
		return err
	}
	views, err := svc.pageViews(ctx, bioHandle)
	if err != nil {
		return err
	}
	// Every view came from one visitor (the loopback, wrk's User-Agent) within CLICK_DEDUP_WINDOW.
	rep.note(fmt.Sprintf("bio: a %d-item page of %s; %s views from wrk's one visitor, counted as %d (de-duplicated)",
		bioItems, bytesSize(size), count(c.svc.requests()), views))
	if views != 1 {
		rep.warn(fmt.Sprintf("bio: the page's views are %d after one visitor's views, want 1", views))
	}
	return nil
}

// pageViews returns the views the service counted on the page handle.
func (s *service) pageViews(ctx context.Context, handle string) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.base+"/api/pages/"+handle, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("get page: %w", err)
	}
	defer resp.Body.Close()
	var out struct {
		Views int64 `json:"views"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&out); err != nil || resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("get page: status %d (%v)", resp.StatusCode, err)
	}
	return out.Views, nil
}

// bytesSize writes n bytes in KB.
func bytesSize(n int) string { return fmt.Sprintf("%.1f KB", float64(n)/1000) }
