package redirect

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redirector/redirector/internal/link"
	"github.com/redirector/redirector/internal/store"
)

// metricValue reads a counter or gauge from the service's registry; 0 when it is not there.
func (e *env) metricValue(name string) float64 {
	e.t.Helper()
	families, err := e.metrics.Registry.Gather()
	if err != nil {
		e.t.Fatalf("gather metrics: %v", err)
	}
	var sum float64
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return sum
}

// flushClicks writes every buffered click to Redis and stops the counter.
func (e *env) flushClicks() {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.counter.Close(ctx); err != nil {
		e.t.Fatalf("flush the click counter: %v", err)
	}
}

// dbSize is Redis's DBSIZE.
func (e *env) dbSize() int64 {
	e.t.Helper()
	n, err := e.rdb.DBSize(context.Background()).Result()
	if err != nil {
		e.t.Fatalf("DBSIZE: %v", err)
	}
	return n
}

// TestUnrecordedClicksWriteNoKeys is issue 13's item 5: clicks on product codes that nobody created
// are redirected as ever, counted in one metric, and add no key to Redis.
func TestUnrecordedClicksWriteNoKeys(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 13))
	seen := map[int64]bool{}
	var pids []int64
	for len(pids) < 100 {
		pid := 1005000000000000 + rng.Int64N(1_000_000_000_000)
		if !seen[pid] {
			seen[pid] = true
			pids = append(pids, pid)
		}
	}
	page := func(pid int64) string { return fmt.Sprintf("https://www.aliexpress.com/item/%d.html", pid) }
	// Each page's affiliate link is cached first (keys that expire), so that what the clicks add is
	// what is left to see.
	for _, pid := range pids {
		waitFor(t, "the affiliate link of "+page(pid), func() bool {
			r := e.get(goPath(page(pid)))
			return r.status == http.StatusFound && r.header.Get("Location") == e.platform.Link(page(pid))
		})
	}
	before := e.dbSize()
	unrecorded := e.metricValue("redirector_clicks_unrecorded_total")

	var humans int
	for i := range 300 {
		pid := pids[i%len(pids)]
		path := "/" + mustProductCode(t, pid)
		if i%3 == 0 {
			path += "?qr" // a scan
		}
		r := e.get(path)
		checkRedirect(t, "GET "+path, r, e.platform.Link(page(pid)))
		humans++
		// Not clicks: a crawler, a preview fetcher, a HEAD.
		if i%10 == 0 {
			checkRedirect(t, "GET "+path+" as Googlebot", e.get(path, "User-Agent", googleUA), e.platform.Link(page(pid)))
			checkRedirect(t, "GET "+path+" as a preview fetcher", e.get(path, "User-Agent", facebook), e.platform.Link(page(pid)))
			checkRedirect(t, "HEAD "+path, e.request(http.MethodHead, path, nil), e.platform.Link(page(pid)))
		}
	}
	e.flushClicks()

	if after := e.dbSize(); after != before {
		keys, _ := e.rdb.Keys(context.Background(), "rd:v1:{*").Result()
		slices.Sort(keys)
		t.Errorf("300 clicks on 100 product codes without records: DBSIZE %d → %d, want no new key; id keys: %.20q", before, after, keys)
	}
	if got := e.metricValue("redirector_clicks_unrecorded_total") - unrecorded; got != float64(humans) {
		t.Errorf("redirector_clicks_unrecorded_total grew by %v, want %d (the human GETs only)", got, humans)
	}
}

// TestEveryKeyHasAnOwnerOrExpiry is issue 13's item 5: after a realistic workload, every key in
// Redis either expires or is owned by a record, live or deleted. The owner rule:
//   - a key with a TTL owns itself until it expires;
//   - rd:v1:{id}:rec is a record (live, or a tombstone that keeps what it owns);
//   - rd:v1:{id}:hh (the health history) is owned by the live record rd:v1:{id}:rec: Delete deletes it;
//   - any other rd:v1:{id}:… without a TTL is owned by the record rd:v1:{id}:rec, which must exist;
//   - rd:v1:links is owned by the live records, and each member must name one;
//   - rd:v1:tgt:<h> is owned by the live record it names, whose target must hash to h;
//   - rd:v1:slug:<s> is owned by the live record it names, whose id in lower case must be s.
//   - rd:v1:apikeys owns itself, and each of its fields belongs to a live key's record field.
//
// Anything else is an orphan.
func TestEveryKeyHasAnOwnerOrExpiry(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	search := func(q string) string { return "https://www.aliexpress.com/w/wholesale-" + q + ".html" }

	productLink := e.create(fmt.Sprintf(`{"url":%q}`, product(1301)), http.StatusCreated)
	slugLink := e.create(`{"url":"https://www.aliexpress.com/store/1301","slug":"spring-shop"}`, http.StatusCreated)
	deletedRandom := e.create(fmt.Sprintf(`{"url":%q}`, search("lamp")), http.StatusCreated)
	retargetedRandom := e.create(fmt.Sprintf(`{"url":%q}`, search("chair")), http.StatusCreated)
	importedRandom := e.create(fmt.Sprintf(`{"url":%q}`, search("table")), http.StatusCreated)
	keptRandom := e.create(fmt.Sprintf(`{"url":%q}`, search("sofa")), http.StatusCreated)
	deletedProduct := e.create(fmt.Sprintf(`{"url":%q}`, product(1302)), http.StatusCreated)
	deletedSlug := e.create(fmt.Sprintf(`{"url":%q,"slug":"Gone-Soon","labels":["x"]}`, product(1308)), http.StatusCreated)

	// Clicks and scans, by people and by bots, on every kind of id, and on pages through /go.
	for _, id := range []string{productLink.ID, slugLink.ID, deletedRandom.ID, retargetedRandom.ID, keptRandom.ID, deletedProduct.ID,
		mustProductCode(t, productID(1303)), mustProductCode(t, productID(1304))} {
		for _, q := range []string{"", "?qr"} {
			if r := e.get("/" + id + q); r.status != http.StatusFound {
				t.Fatalf("GET /%s%s = %s, want 302", id, q, r)
			}
			e.get("/"+id+q, "User-Agent", googleUA)
			e.request(http.MethodHead, "/"+id+q, nil)
		}
	}
	e.get(goPath(product(1305)))
	e.flushClicks()

	// Retarget, delete, import.
	if r := e.api(http.MethodPatch, "/api/links/"+retargetedRandom.ID, fmt.Sprintf(`{"url":%q}`, search("bench"))); r.status != http.StatusOK {
		t.Fatalf("PATCH %s = %s, want 200", retargetedRandom.ID, r)
	}
	if r := e.api(http.MethodPatch, "/api/links/"+slugLink.ID, fmt.Sprintf(`{"url":%q}`, product(1306))); r.status != http.StatusOK {
		t.Fatalf("PATCH %s = %s, want 200", slugLink.ID, r)
	}
	for _, id := range []string{deletedRandom.ID, deletedProduct.ID, deletedSlug.ID} {
		if r := e.api(http.MethodDelete, "/api/links/"+id, ""); r.status != http.StatusNoContent {
			t.Fatalf("DELETE %s = %s, want 204", id, r)
		}
	}
	// An import as `redirector import` does it: Put, then the target index for live random ids.
	records := store.NewRecords(e.rdb)
	now := e.clock.Now().Add(time.Minute)
	for _, rec := range []link.Record{
		{ID: importedRandom.ID, Target: search("desk"), Created: importedRandom.CreatedAt, Updated: now},
		{ID: "imported-slug", Target: product(1307), Created: now, Updated: now},
	} {
		if err := records.Put(ctx, rec); err != nil {
			t.Fatalf("Put(%+v): %v", rec, err)
		}
		if _, _, err := records.SetTargetID(ctx, rec.Target, rec.ID); err != nil {
			t.Fatalf("SetTargetID(%+v): %v", rec, err)
		}
	}

	// API keys: one used (its last use written), one revoked after use.
	_, kept := e.newKey("kept", "links:read")
	revokedID, revoked := e.newKey("revoked", "links:read")
	for _, k := range []string{kept, revoked} {
		if r := e.get("/api/links", bearer(k)...); r.status != http.StatusOK {
			t.Fatalf("GET /api/links with a key = %s", r)
		}
	}
	waitFor(t, "both keys' last use written", func() bool {
		n, _ := e.rdb.HLen(ctx, "rd:v1:apikeys").Result()
		return n == 6
	})
	if r := e.api(http.MethodDelete, "/api/keys/"+revokedID, ""); r.status != http.StatusNoContent {
		t.Fatalf("revoke = %s", r)
	}

	orphans := e.orphanKeys()
	if len(orphans) > 0 {
		t.Errorf("%d keys have neither an expiry nor an owning record:\n  %s", len(orphans), strings.Join(orphans, "\n  "))
	}
	// What the owner rule keeps of a deleted link: its tombstone and its totals.
	for _, key := range []string{"rd:v1:{" + deletedProduct.ID + "}:rec", "rd:v1:{" + deletedProduct.ID + "}:n"} {
		if n, err := e.rdb.Exists(ctx, key).Result(); err != nil || n != 1 {
			t.Errorf("EXISTS %s = %d, %v; want the deleted link's key kept by its tombstone", key, n, err)
		}
	}
}

// orphanKeys SCANs every key and returns those that neither expire nor have an owner, as
// TestEveryKeyHasAnOwnerOrExpiry's rule says, each with the reason.
func (e *env) orphanKeys() []string {
	e.t.Helper()
	ctx := context.Background()
	records := store.NewRecords(e.rdb)
	live := func(id string) (link.Record, bool) {
		rec, ok, err := records.Get(ctx, id)
		if err != nil {
			e.t.Fatalf("Get(%s): %v", id, err)
		}
		return rec, ok && !rec.Deleted
	}
	var orphans []string
	iter := e.rdb.Scan(ctx, 0, "*", 100).Iterator()
	for iter.Next(ctx) {
		key := iter.Val()
		ttl, err := e.rdb.PTTL(ctx, key).Result()
		if err != nil {
			e.t.Fatalf("PTTL %s: %v", key, err)
		}
		if ttl > 0 {
			continue
		}
		switch {
		case key == "rd:v1:{wh}:hooks": // the registered webhooks: each field is deleted by DELETE /api/webhooks/{id}
		case strings.HasPrefix(key, "rd:v1:{"):
			id, rest, _ := strings.Cut(strings.TrimPrefix(key, "rd:v1:{"), "}:")
			if rest == "rec" {
				continue
			}
			if rest == "hh" { // the health history: deleted with the record, so only a live record owns one
				if _, ok := live(id); !ok {
					orphans = append(orphans, fmt.Sprintf("%s: a health history without a live record %s", key, id))
				}
				continue
			}
			if _, ok, err := records.Get(ctx, id); err != nil || !ok {
				orphans = append(orphans, fmt.Sprintf("%s: no expiry, and no record %s (err %v)", key, id, err))
			}
		case key == "rd:v1:links":
			members, err := e.rdb.ZRange(ctx, key, 0, -1).Result()
			if err != nil {
				e.t.Fatalf("ZRANGE %s: %v", key, err)
			}
			for _, id := range members {
				if _, ok := live(id); !ok {
					orphans = append(orphans, fmt.Sprintf("%s member %s: no live record", key, id))
				}
			}
		case strings.HasPrefix(key, "rd:v1:tgt:"):
			id, err := e.rdb.Get(ctx, key).Result()
			if err != nil {
				e.t.Fatalf("GET %s: %v", key, err)
			}
			rec, ok := live(id)
			sum := sha256.Sum256([]byte(rec.Target))
			if !ok || "rd:v1:tgt:"+hex.EncodeToString(sum[:16]) != key {
				orphans = append(orphans, fmt.Sprintf("%s → %s: not a live record leading to the target it indexes (record %+v, live %v)", key, id, rec, ok))
			}
		case strings.HasPrefix(key, "rd:v1:slug:"):
			id, err := e.rdb.Get(ctx, key).Result()
			if err != nil {
				e.t.Fatalf("GET %s: %v", key, err)
			}
			if _, ok := live(id); !ok || "rd:v1:slug:"+strings.ToLower(id) != key {
				orphans = append(orphans, fmt.Sprintf("%s → %s: not a live record with that slug", key, id))
			}
		case key == "rd:v1:apikeys":
			// Owns itself; each n: and u: field belongs to the k: field of its key.
			fields, err := e.rdb.HGetAll(ctx, key).Result()
			if err != nil {
				e.t.Fatalf("HGETALL %s: %v", key, err)
			}
			for f, v := range fields {
				id := ""
				switch {
				case strings.HasPrefix(f, "u:"):
					id = f[2:]
				case strings.HasPrefix(f, "n:"):
					id = v
				}
				if _, ok := fields["k:"+id]; id != "" && !ok {
					orphans = append(orphans, fmt.Sprintf("%s field %s: no key %s", key, f, id))
				}
			}
		default:
			orphans = append(orphans, key+": no expiry and no owner rule ("+strconv.FormatInt(int64(ttl/time.Millisecond), 10)+" ms)")
		}
	}
	if err := iter.Err(); err != nil {
		e.t.Fatalf("SCAN: %v", err)
	}
	slices.Sort(orphans)
	return orphans
}
