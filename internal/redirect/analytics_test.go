package redirect

import (
	"context"
	"encoding/csv"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redirector/redirector/internal/store"
)

// Browsers the analytics tests visit with.
const (
	iPhoneUA  = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
	firefoxUA = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14.5; rv:127.0) Gecko/20100101 Firefox/127.0"
)

// statsReply is the answer of the stats endpoints.
type statsReply struct {
	ID       string       `json:"id"`
	From     string       `json:"from"`
	To       string       `json:"to"`
	Clicks   int64        `json:"clicks"`
	Scans    int64        `json:"scans"`
	Visitors int64        `json:"visitors"`
	Country  []valueCount `json:"country"`
	Referrer []valueCount `json:"referrer"`
	Device   []valueCount `json:"device"`
	OS       []valueCount `json:"os"`
	Browser  []valueCount `json:"browser"`
	Source   []valueCount `json:"source"`
}

type valueCount struct {
	Value  string `json:"value"`
	Clicks int64  `json:"clicks"`
}

// dims reads a dimension's values as "value=clicks", sorted, for comparison.
func dims(vs []valueCount) string {
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = fmt.Sprintf("%s=%d", v.Value, v.Clicks)
	}
	slices.Sort(s)
	return strings.Join(s, " ")
}

// stats reads path (a stats endpoint) once every click is written.
func (e *env) stats(path string) statsReply {
	e.t.Helper()
	waitFor(e.t, "the clicks to be written", func() bool { return e.counter.Pending() == 0 })
	r := e.api(http.MethodGet, path, "")
	if r.status != http.StatusOK {
		e.t.Fatalf("GET %s = %s, want 200", path, r)
	}
	var s statsReply
	decode(e.t, r, &s)
	return s
}

// click is a person's GET of path from the address addr (through the loopback proxy the env trusts)
// with the User-Agent ua; header adds pairs of names and values.
func (e *env) click(path, addr, ua string, header ...string) {
	e.t.Helper()
	r := e.get(path, append([]string{"User-Agent", ua, "X-Forwarded-For", addr}, header...)...)
	if r.status != http.StatusFound {
		e.t.Fatalf("GET %s from %s = %s, want 302", path, addr, r)
	}
}

// TestVisitorCountedOncePerWindow is issue 17's first check: 1,000 clicks from one visitor within the
// window count 1 click and 1 visitor, while the redirects' metric sees all 1,000.
func TestVisitorCountedOncePerWindow(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	id := e.create(fmt.Sprintf(`{"url":%q}`, product(1701)), http.StatusCreated).ID
	redirects := e.metricValue("redirector_redirects_total")
	for range 1000 {
		e.click("/"+id, "193.0.6.139", chromeUA)
	}
	s := e.stats("/api/links/" + id + "/stats")
	if s.Clicks != 1 || s.Visitors != 1 || s.Scans != 0 {
		t.Errorf("1,000 clicks of one visitor: %d clicks, %d visitors, %d scans; want 1, 1, 0", s.Clicks, s.Visitors, s.Scans)
	}
	if got := e.metricValue("redirector_redirects_total") - redirects; got != 1000 {
		t.Errorf("redirector_redirects_total grew by %v, want 1000 (every redirect)", got)
	}
	var l linkReply
	decode(t, e.api(http.MethodGet, "/api/links/"+id, ""), &l)
	if l.Clicks == nil || *l.Clicks != 1 || l.Visitors == nil || *l.Visitors != 1 || l.Daily[len(l.Daily)-1].Visitors != 1 {
		t.Errorf("GET /api/links/%s = %s, want clicks 1 and visitors 1 (today's too)", id, e.api(http.MethodGet, "/api/links/"+id, ""))
	}
}

// TestEveryClickCountsWithoutAWindow: CLICK_DEDUP_WINDOW=0 counts every click, one visitor's too.
func TestEveryClickCountsWithoutAWindow(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{DedupWindow: -1})
	id := e.create(fmt.Sprintf(`{"url":%q}`, product(1709)), http.StatusCreated).ID
	for range 50 {
		e.click("/"+id+"?qr", "193.0.6.139", chromeUA)
	}
	s := e.stats("/api/links/" + id + "/stats")
	if s.Clicks != 50 || s.Scans != 50 || s.Visitors != 1 || dims(s.Source) != "qr=50" {
		t.Errorf("50 scans of one visitor without a window: %+v, want 50 clicks and scans, 1 visitor", s)
	}
}

// TestVisitorCountedAgainAfterTheWindow: past CLICK_DEDUP_WINDOW the same visitor counts again.
func TestVisitorCountedAgainAfterTheWindow(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{DedupWindow: 300 * time.Millisecond})
	id := e.create(fmt.Sprintf(`{"url":%q}`, product(1702)), http.StatusCreated).ID
	e.click("/"+id, "193.0.6.139", chromeUA)
	e.click("/"+id, "193.0.6.139", chromeUA)
	if s := e.stats("/api/links/" + id + "/stats"); s.Clicks != 1 {
		t.Fatalf("two clicks within the window: %d clicks, want 1", s.Clicks)
	}
	waitFor(t, "the visitor's mark to expire", func() bool {
		keys, err := e.rdb.Keys(context.Background(), "rd:v1:{"+id+"}:u:*").Result()
		return err == nil && len(keys) == 0
	})
	e.click("/"+id, "193.0.6.139", chromeUA)
	if s := e.stats("/api/links/" + id + "/stats"); s.Clicks != 2 || s.Visitors != 1 {
		t.Errorf("a click after the window: %d clicks, %d visitors; want 2, 1 (the same visitor that day)", s.Clicks, s.Visitors)
	}
}

// TestTwoUserAgentsBehindOneAddress: two browsers behind one address are two visitors; one browser's
// IPv6 addresses within its /64 are one.
func TestTwoUserAgentsBehindOneAddress(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	id := e.create(fmt.Sprintf(`{"url":%q}`, product(1703)), http.StatusCreated).ID
	for range 5 {
		e.click("/"+id, "194.25.2.129", iPhoneUA)
		e.click("/"+id, "194.25.2.129", firefoxUA)
	}
	for i := range 5 { // privacy addresses of one host: one /64
		e.click("/"+id, fmt.Sprintf("2001:67c:2e8:22::c100:%x", 0x68b+i), iPhoneUA)
	}
	s := e.stats("/api/links/" + id + "/stats")
	if s.Clicks != 3 || s.Visitors != 3 {
		t.Errorf("two browsers behind one address and one in a /64: %d clicks, %d visitors; want 3, 3", s.Clicks, s.Visitors)
	}
	for _, tc := range []struct{ name, got, want string }{
		{"device", dims(s.Device), "desktop=1 mobile=2"},
		{"os", dims(s.OS), "MacOS=1 iOS=2"},
		{"browser", dims(s.Browser), "Firefox=1 Safari=2"},
		{"country", dims(s.Country), "DE=2 NL=1"},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %q, want %q", tc.name, tc.got, tc.want)
		}
	}
}

// TestCountriesThroughTrustedProxy: three addresses named by a trusted proxy's X-Forwarded-For, each in
// a country that is a fact, not the database's opinion: RIPE NCC's web server in Amsterdam
// (193.0.6.139, NL), the University of Tokyo's network 133.11.0.0/16 (JP), Telstra's name server
// (139.130.4.5, AU). The same header from a peer that is not trusted names nobody.
func TestCountriesThroughTrustedProxy(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	id := e.create(fmt.Sprintf(`{"url":%q}`, product(1704)), http.StatusCreated).ID
	// The client's own claim left of the proxy's: the proxy's word (rightmost) is what counts.
	e.click("/"+id, "8.8.8.8, 193.0.6.139", chromeUA)
	e.click("/"+id, "133.11.0.1", chromeUA)
	e.click("/"+id, "139.130.4.5", chromeUA)
	s := e.stats("/api/links/" + id + "/stats")
	if got, want := dims(s.Country), "AU=1 JP=1 NL=1"; got != want || s.Clicks != 3 {
		t.Errorf("country = %q (%d clicks), want %q", got, s.Clicks, want)
	}

	untrusting := newEnv(t, envOptions{Limits: &LimitOptions{}, Redis: e.redis, Platform: e.platform})
	untrusting.click("/"+id, "193.0.6.139", chromeUA)
	u := untrusting.stats("/api/links/" + id + "/stats")
	if got, want := dims(u.Country), "AU=1 JP=1 NL=1 unknown=1"; got != want {
		t.Errorf("X-Forwarded-For from an untrusted peer: country = %q, want %q (the loopback peer has none)", got, want)
	}
}

// TestReferrersBounded: 10,000 distinct referrers on one link keep at most STATS_TOP values and
// "other" in the store, and every click is in one of them.
func TestReferrersBounded(t *testing.T) {
	t.Parallel()
	const top, visits = 20, 10_000
	e := newEnv(t, envOptions{StatsTop: top})
	id := e.create(fmt.Sprintf(`{"url":%q}`, product(1705)), http.StatusCreated).ID
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := g; i < visits; i += 8 {
				e.click("/"+id, fmt.Sprintf("100.%d.%d.%d", 64+i>>16, i>>8&255, i&255), chromeUA,
					"Referer", fmt.Sprintf("https://blog%d.example/post", i))
			}
		})
	}
	wg.Wait()
	s := e.stats("/api/links/" + id + "/stats")
	var sum int64
	for _, v := range s.Referrer {
		sum += v.Clicks
	}
	if s.Clicks != visits || sum != visits || len(s.Referrer) != top+1 || s.Referrer[len(s.Referrer)-1].Value != "other" {
		t.Errorf("%d referrers: %d clicks, %d in %d referrer values (last %v); want %d, %d in %d ending with other",
			visits, s.Clicks, sum, len(s.Referrer), s.Referrer[len(s.Referrer)-1], visits, visits, top+1)
	}
	day := e.clock.Now().UTC().Format("20060102")
	for _, key := range []string{"rd:v1:{" + id + "}:s:" + day + ":referrer", "rd:v1:stats:{" + day + "}:referrer"} {
		if n, err := e.rdb.HLen(context.Background(), key).Result(); err != nil || n > top+1 {
			t.Errorf("HLEN %s = %d, %v; want at most %d", key, n, err, top+1)
		}
	}
}

// TestNotCountedVisits: bots, preview fetchers and HEAD redirect as ever and count nothing, in no
// dimension.
func TestNotCountedVisits(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	id := e.create(fmt.Sprintf(`{"url":%q}`, product(1706)), http.StatusCreated).ID
	for i, ua := range []string{googleUA, facebook, "Twitterbot/1.0", curlUA, ""} {
		e.click("/"+id, fmt.Sprintf("193.0.6.%d", i+1), ua)
	}
	r := e.request(http.MethodHead, "/"+id, nil, "X-Forwarded-For", "193.0.6.100")
	if r.status != http.StatusFound {
		t.Fatalf("HEAD /%s = %s, want 302", id, r)
	}
	s := e.stats("/api/links/" + id + "/stats")
	if s.Clicks != 0 || s.Visitors != 0 || len(s.Country)+len(s.Referrer)+len(s.Device)+len(s.OS)+len(s.Browser)+len(s.Source) != 0 {
		t.Errorf("bots, previews and HEAD: %+v, want nothing counted", s)
	}
	if keys, _ := e.rdb.Keys(context.Background(), "rd:v1:{"+id+"}:[uvsd]:*").Result(); len(keys) != 0 {
		t.Errorf("keys written for visits that do not count: %q", keys)
	}
}

// TestReplicasCountsAddUp: two replicas on one Redis count each visitor once between them, whichever
// replica its clicks reach, and their counts add up.
func TestReplicasCountsAddUp(t *testing.T) {
	t.Parallel()
	a := newEnv(t, envOptions{})
	b := a.restart()
	id := a.create(fmt.Sprintf(`{"url":%q}`, product(1707)), http.StatusCreated).ID
	a.click("/"+id, "193.0.6.139", chromeUA)
	b.click("/"+id, "193.0.6.139", chromeUA) // the same visitor on the other replica
	a.click("/"+id, "133.11.0.1", chromeUA)
	b.click("/"+id, "139.130.4.5", iPhoneUA)
	b.click("/"+id+"?qr", "139.130.4.6", iPhoneUA)
	waitFor(t, "replica A's clicks to be written", func() bool { return a.counter.Pending() == 0 })
	s := b.stats("/api/links/" + id + "/stats")
	if s.Clicks != 4 || s.Scans != 1 || s.Visitors != 4 {
		t.Errorf("4 visitors over two replicas, one of them on both: %d clicks, %d scans, %d visitors; want 4, 1, 4", s.Clicks, s.Scans, s.Visitors)
	}
	if got, want := dims(s.Country), "AU=2 JP=1 NL=1"; got != want {
		t.Errorf("country = %q, want %q", got, want)
	}
	all := a.stats("/api/stats")
	if all.Clicks != 4 || all.Visitors != 4 || dims(all.Country) != dims(s.Country) {
		t.Errorf("GET /api/stats = %+v, want the link's counts (it is the only one clicked)", all)
	}
}

// TestStatsAPI: sources and referrers, the span asked for, CSV, and the refusals.
func TestStatsAPI(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	id := e.create(fmt.Sprintf(`{"url":%q}`, product(1708)), http.StatusCreated).ID
	e.click("/"+id, "193.0.6.1", chromeUA, "Referer", "https://www.YouTube.com/watch?v=x")
	e.click("/"+id+"?qr", "193.0.6.2", chromeUA)
	e.click("/"+id+"?src=bio", "193.0.6.3", chromeUA, "Referer", "https://go.example.test/@me")
	e.click("/"+id, "193.0.6.4", chromeUA, "Referer", "https://-x.example/")
	today := e.clock.Now().UTC().Format(time.DateOnly)
	s := e.stats("/api/links/" + id + "/stats?from=" + today + "&to=" + today)
	if s.ID != id || s.From != today || s.To != today || s.Clicks != 4 || s.Scans != 1 {
		t.Errorf("stats = %+v, want %s, %s to %s, 4 clicks, 1 scan", s, id, today, today)
	}
	for _, tc := range []struct{ name, got, want string }{
		{"source", dims(s.Source), "bio=1 link=2 qr=1"},
		{"referrer", dims(s.Referrer), "-x.example=1 direct=1 go.example.test=1 youtube.com=1"},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %q, want %q", tc.name, tc.got, tc.want)
		}
	}
	// A span that ended yesterday has none of today's clicks.
	yesterday := e.clock.Now().UTC().AddDate(0, 0, -1).Format(time.DateOnly)
	if old := e.stats("/api/links/" + id + "/stats?to=" + yesterday); old.Clicks != 0 || old.To != yesterday {
		t.Errorf("stats to yesterday = %+v, want no clicks", old)
	}

	r := e.api(http.MethodGet, "/api/links/"+id+"/stats?format=csv", "")
	if r.status != http.StatusOK || !strings.HasPrefix(r.header.Get("Content-Type"), "text/csv") {
		t.Fatalf("CSV = %s (%s), want 200 text/csv", r, r.header.Get("Content-Type"))
	}
	rows, err := csv.NewReader(strings.NewReader(string(r.body))).ReadAll()
	if err != nil {
		t.Fatalf("CSV %q: %v", r.body, err)
	}
	want := [][]string{{"dimension", "value", "clicks"}, {"total", "clicks", "4"}, {"total", "scans", "1"}, {"total", "visitors", "4"}}
	if len(rows) < len(want) || fmt.Sprint(rows[:len(want)]) != fmt.Sprint(want) {
		t.Errorf("CSV starts %q, want %q", rows, want)
	}
	if !slices.ContainsFunc(rows, func(row []string) bool {
		return fmt.Sprint(row) == fmt.Sprint([]string{"referrer", "'-x.example", "1"})
	}) {
		t.Errorf("CSV %q: no referrer row for -x.example written so no spreadsheet reads it as a formula", rows)
	}

	for _, tc := range []struct {
		path string
		want int
	}{
		{"/api/links/" + id + "/stats?from=yesterday", http.StatusBadRequest},
		{"/api/links/" + id + "/stats?to=2026-13-01", http.StatusBadRequest},
		{"/api/links/" + id + "/stats?from=2026-02-01&to=2026-01-01", http.StatusBadRequest},
		{"/api/links/" + id + "/stats?from=2024-01-01&to=2026-01-01", http.StatusBadRequest},
		{"/api/links/" + id + "/stats?format=xml", http.StatusBadRequest},
		{"/api/stats?from=x", http.StatusBadRequest},
		{"/api/links/no-such-link/stats", http.StatusNotFound},
	} {
		apiError(t, "GET "+tc.path, e.api(http.MethodGet, tc.path, ""), tc.want)
	}
	if r := e.request(http.MethodGet, "/api/stats", nil); r.status != http.StatusUnauthorized {
		t.Errorf("GET /api/stats without a token = %s, want 401", r)
	}
	if store.MaxReportDays != 366 {
		t.Errorf("MaxReportDays = %d; the refusal above assumes 366", store.MaxReportDays)
	}
}
