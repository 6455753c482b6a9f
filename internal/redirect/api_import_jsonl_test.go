package redirect

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redirector/redirector/internal/backup"
	"github.com/redirector/redirector/internal/link"
)

// importLines posts body to /api/import as JSON Lines with the Content-Type ct.
func (e *env) importLines(body, ct string) reply {
	e.t.Helper()
	return e.request(http.MethodPost, "/api/import", strings.NewReader(body), "Authorization", "Bearer "+testToken, "Content-Type", ct)
}

type linesReply struct {
	Created        int `json:"created"`
	Updated        int `json:"updated"`
	Unchanged      int `json:"unchanged"`
	TotalsRaised   int `json:"totals_raised"`
	PagesWritten   int `json:"pages_written"`
	PagesUnchanged int `json:"pages_unchanged"`
}

type lineErrors struct {
	Error string `json:"error"`
	Lines []struct {
		Line  int    `json:"line"`
		Error string `json:"error"`
	} `json:"lines"`
}

// exportLines is GET /api/export's lines, sorted (the export's order is none in particular).
func (e *env) exportLines() []string {
	e.t.Helper()
	r := e.api(http.MethodGet, "/api/export", "")
	if r.status != http.StatusOK {
		e.t.Fatalf("GET /api/export = %s", r)
	}
	lines := strings.Split(strings.TrimSpace(string(r.body)), "\n")
	slices.Sort(lines)
	return lines
}

// An export imported into a fresh store through the API gives the same records, totals and pages,
// with the indexes `redirector import` rebuilds; importing it again changes nothing at all.
func TestImportJSONLinesRoundTrip(t *testing.T) {
	t.Parallel()
	src := newEnv(t, envOptions{})
	random := src.create(fmt.Sprintf(`{"url":%q}`, product(3001)), http.StatusCreated)
	r := src.api(http.MethodPost, "/api/links", fmt.Sprintf(`{"url":%q,"slug":"Spring-Sale","labels":["flyer"],"channel":%q,"fallback_url":%q}`,
		product(3002), testChannel, product(3003)))
	var slug struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(r.body, &slug); r.status != http.StatusCreated || err != nil {
		t.Fatalf("POST /api/links with a slug, channel, labels and plan B = %s, want 201", r)
	}
	gone := src.create(fmt.Sprintf(`{"url":%q}`, product(3004)), http.StatusCreated)
	if r := src.api(http.MethodDelete, "/api/links/"+gone.ID, ""); r.status != http.StatusNoContent {
		t.Fatalf("DELETE = %s", r)
	}
	src.click("/"+random.ID, "193.0.6.139", chromeUA)
	src.click("/"+slug.ID, "193.0.6.139", chromeUA)
	src.click("/"+slug.ID, "193.0.6.140", chromeUA)
	src.flushClicks()
	src.createPage(`{"handle":"ana","title":"Ana's picks","items":[{"id":"`+slug.ID+`"}]}`, http.StatusCreated)
	want := src.exportLines()
	if len(want) != 4 {
		t.Fatalf("export = %q, want 3 records and 1 page", want)
	}

	dst := newEnv(t, envOptions{})
	var got linesReply
	r = dst.importLines(strings.Join(want, "\n")+"\n", "application/x-ndjson")
	if r.status != http.StatusOK {
		t.Fatalf("POST /api/import (JSON Lines) = %s, want 200", r)
	}
	decode(t, r, &got)
	if got != (linesReply{Created: 3, TotalsRaised: 2, PagesWritten: 1}) {
		t.Errorf("import = %+v, want 3 created, totals raised for 2, 1 page written", got)
	}
	if after := dst.exportLines(); !slices.Equal(after, want) {
		t.Errorf("export after import:\n%s\nwant\n%s", strings.Join(after, "\n"), strings.Join(want, "\n"))
	}
	keys := dst.storeKeys()
	r = dst.importLines(strings.Join(want, "\n"), "application/jsonl; charset=utf-8")
	got = linesReply{}
	decode(t, r, &got)
	if r.status != http.StatusOK || got != (linesReply{Unchanged: 3, PagesUnchanged: 1}) {
		t.Errorf("the same import again = %s, want 200, 3 records and 1 page unchanged", r)
	}
	if after := dst.storeKeys(); !slices.Equal(after, keys) {
		t.Errorf("importing twice changed the store:\nbefore %q\nafter  %q", keys, after)
	}
	// The indexes: the same page gives the same id, a slug matches ignoring case, the tombstone stays.
	if again := dst.create(fmt.Sprintf(`{"url":%q}`, product(3001)), http.StatusOK); again.ID != random.ID {
		t.Errorf("creating the imported page again = %s, want its id %s", again.ID, random.ID)
	}
	checkRedirect(t, "GET /spring-sale", dst.get("/spring-sale"), dst.platform.Link(product(3002)))
	if r := dst.get("/" + gone.ID); r.status != http.StatusNotFound {
		t.Errorf("GET the deleted link = %s, want 404", r)
	}
}

// One bad line and nothing is written; every bad line is named with its number and reason.
func TestImportJSONLinesBadLineWritesNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	now := time.Now().UTC().Truncate(time.Second)
	line := func(id, target string) string {
		b, err := json.Marshal(backup.NewLine(link.Record{ID: id, Target: target, Created: now, Updated: now}, link.Stats{Clicks: 2}))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	body := strings.Join([]string{
		line("good-one", product(3101)),
		line("bad-target", "https://example.com/item/1.html"),
		`{"id":"x1",`,
		"",
		`{"kind":"page","page":null}`,
		strings.Replace(line("too-new", product(3102)), now.Format(time.RFC3339), now.Add(48*time.Hour).Format(time.RFC3339), 1),
		line("good-two", product(3103)),
	}, "\n")
	before := e.storeKeys()
	r := e.importLines(body, "application/x-ndjson")
	var errs lineErrors
	decode(t, r, &errs)
	if r.status != http.StatusBadRequest || !strings.Contains(errs.Error, "nothing was written") {
		t.Fatalf("import with bad lines = %s, want 400 saying nothing was written", r)
	}
	wantLines := map[int]string{2: "target", 3: "malformed JSON", 5: "page", 6: "out of range"}
	if len(errs.Lines) != len(wantLines) {
		t.Errorf("lines = %+v, want lines 2, 3, 5 and 6", errs.Lines)
	}
	for _, l := range errs.Lines {
		if says, ok := wantLines[l.Line]; !ok || !strings.Contains(l.Error, says) {
			t.Errorf("line %d: %q, want it named for %q", l.Line, l.Error, wantLines[l.Line])
		}
	}
	if after := e.storeKeys(); !slices.Equal(after, before) {
		t.Errorf("a refused import wrote to the store:\nbefore %q\nafter  %q", before, after)
	}

	long := line("good-one", product(3101)) + "\n" + `{"id":"` + strings.Repeat("a", backup.MaxLine) + `"}` + "\n"
	errs = lineErrors{}
	r = e.importLines(long, "application/x-ndjson")
	decode(t, r, &errs)
	if r.status != http.StatusBadRequest || len(errs.Lines) != 1 || errs.Lines[0].Line != 2 || !strings.Contains(errs.Lines[0].Error, "64 KiB") {
		t.Errorf("import with a line past 64 KiB = %s, want 400 naming line 2", r)
	}
	big := strings.Repeat(line("good-one", product(3101))+"\n", (8<<20)/len(line("good-one", product(3101)))+10)
	apiError(t, "import 8 MiB of JSON Lines", e.importLines(big, "application/x-ndjson"), http.StatusRequestEntityTooLarge)
	if after := e.storeKeys(); !slices.Equal(after, before) {
		t.Errorf("refused imports wrote to the store:\nbefore %q\nafter  %q", before, after)
	}
}

// A record an import replaces is not served stale from the first tier (the import announces it as
// the API's own writes are announced, which reaches every replica), and webhooks hear of it.
func TestImportJSONLinesRefreshesCacheAndTellsWebhooks(t *testing.T) {
	t.Parallel()
	rcv := newHookReceiver(t)
	e := newEnv(t, envOptions{Webhooks: rcv.options()})
	e.registerHook(rcv, "link.created", "link.updated")
	l := e.create(fmt.Sprintf(`{"url":%q}`, product(3201)), http.StatusCreated)
	checkRedirect(t, "GET /{id}", e.get("/"+l.ID), e.platform.Link(product(3201))) // the record is cached now

	newer := backup.NewLine(link.Record{ID: l.ID, Target: product(3202), Created: l.CreatedAt, Updated: l.UpdatedAt.Add(time.Minute)}, link.Stats{})
	added := backup.NewLine(link.Record{ID: "from-file", Target: product(3203), Created: l.CreatedAt, Updated: l.UpdatedAt}, link.Stats{})
	var body strings.Builder
	for _, x := range []backup.Line{newer, added} {
		b, _ := json.Marshal(x)
		body.Write(append(b, '\n'))
	}
	r := e.importLines(body.String(), "application/x-ndjson")
	var got linesReply
	decode(t, r, &got)
	if r.status != http.StatusOK || got != (linesReply{Created: 1, Updated: 1}) {
		t.Fatalf("import = %s, want 200, 1 created and 1 updated", r)
	}
	checkRedirect(t, "GET /{id} after the import retargeted it", e.get("/"+l.ID), e.platform.Link(product(3202)))

	waitUntil(t, "three events", func() bool { ev, _, _ := rcv.seen(); return len(ev) >= 3 })
	events, bad, _ := rcv.seen()
	if len(bad) > 0 {
		t.Fatalf("receiver refused deliveries: %q", bad)
	}
	seen := map[string]string{}
	for _, ev := range events {
		var d struct {
			ID     string `json:"id"`
			Target string `json:"target"`
		}
		if err := json.Unmarshal(ev.Data, &d); err != nil {
			t.Fatalf("%s data %s: %v", ev.Event, ev.Data, err)
		}
		seen[ev.Event+" "+d.ID] = d.Target
	}
	want := map[string]string{
		"link.created " + l.ID: product(3201), "link.updated " + l.ID: product(3202), "link.created from-file": product(3203),
	}
	if len(events) != 3 || !mapsEqual(seen, want) {
		t.Errorf("events = %v, want %v", seen, want)
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// A large import answers although it takes longer than the server's WriteTimeout, which is set for clicks.
func TestImportJSONLinesOutlivesWriteTimeout(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	srv := httptest.NewUnstartedServer(e.handler)
	srv.Config.WriteTimeout = 20 * time.Millisecond
	srv.Start()
	t.Cleanup(srv.Close)
	now := time.Now().UTC().Truncate(time.Second)
	var body strings.Builder
	for i := range 2000 { // a few Redis round trips each: far longer than 20 ms
		b, _ := json.Marshal(backup.NewLine(link.Record{ID: fmt.Sprintf("slug-%d", i), Target: product(4000 + i), Created: now, Updated: now}, link.Stats{}))
		body.Write(append(b, '\n'))
	}
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/api/import", strings.NewReader(body.String()))
	req.Header.Set("Authorization", "Bearer "+testToken)
	req.Header.Set("Content-Type", "application/x-ndjson")
	start := time.Now()
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatalf("POST /api/import of 2,000 lines (%v): %v", time.Since(start), err)
	}
	defer resp.Body.Close()
	var got linesReply
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || resp.StatusCode != http.StatusOK || got.Created != 2000 {
		t.Errorf("POST /api/import of 2,000 lines = %d %+v, %v; want 200, 2,000 created", resp.StatusCode, got, err)
	}
}
