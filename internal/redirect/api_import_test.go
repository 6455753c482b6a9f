package redirect

import (
	"context"
	"encoding/csv"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// importCSV posts body to /api/import as text/csv.
func (e *env) importCSV(body string) reply {
	e.t.Helper()
	return e.request(http.MethodPost, "/api/import", strings.NewReader(body), "Authorization", "Bearer "+testToken, "Content-Type", "text/csv; charset=utf-8")
}

type importReply struct {
	Created   int `json:"created"`
	Unchanged int `json:"unchanged"`
	Links     []struct {
		Row      int    `json:"row"`
		ID       string `json:"id"`
		ShortURL string `json:"short_url"`
		Created  bool   `json:"created"`
	} `json:"links"`
}

type importErrors struct {
	Error string `json:"error"`
	Rows  []struct {
		Row   int    `json:"row"`
		Error string `json:"error"`
	} `json:"rows"`
}

// storeKeys is every key in the test's Redis with its type and value, to tell whether anything changed.
func (e *env) storeKeys() []string {
	e.t.Helper()
	ctx := context.Background()
	keys, err := e.rdb.Keys(ctx, "*").Result()
	if err != nil {
		e.t.Fatal(err)
	}
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		v, err := e.rdb.Dump(ctx, k).Result()
		if err != nil {
			e.t.Fatalf("DUMP %s: %v", k, err)
		}
		out = append(out, k+"="+v)
	}
	slices.Sort(out)
	return out
}

// thousandRows is a CSV of 1,000 links in the columns' non-default order, with a BOM, labels, slugs,
// channels and plans B; bad maps a row index (0-based, the header not counted) to a replacement row.
func thousandRows(bad map[int][]string) string {
	var b strings.Builder
	b.WriteString("\uFEFF")
	w := csv.NewWriter(&b)
	_ = w.Write([]string{"Slug", "url", "label", "fallback_url", "channel"})
	for i := range 1000 {
		row := []string{"", product(2000 + i), "", "", ""}
		if i%3 == 0 {
			row[0] = fmt.Sprintf("csv-Slug-%d", i)
		}
		if i%4 == 0 {
			row[2] = fmt.Sprintf("Spring %d| flyer |FLYER", i%10)
		}
		if i%5 == 0 {
			row[3] = product(9000 + i)
		}
		if i%7 == 0 {
			row[4] = testChannel
		}
		if r, ok := bad[i]; ok {
			row = r
		}
		_ = w.Write(row)
	}
	w.Flush()
	return b.String()
}

// TestImportCSV is issue 22's point 3: a CSV of 1,000 rows with 3 bad ones writes nothing and names
// the 3; without them it makes the links, and importing it again makes none.
func TestImportCSV(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	before := e.storeKeys()
	bad := map[int][]string{
		99:  {"", "https://example.com/item/1.html", "", "", ""},
		500: {"api", product(2500), "", "", ""},
		999: {"", product(2999), "a|b|c|d|e|f|g|h|i|j|k", "", ""},
	}
	r := e.importCSV(thousandRows(bad))
	var errs importErrors
	if r.status != http.StatusBadRequest {
		t.Fatalf("import with 3 bad rows = %s, want 400", r)
	}
	decode(t, r, &errs)
	var rows []int
	for _, re := range errs.Rows {
		rows = append(rows, re.Row)
	}
	if !slices.Equal(rows, []int{101, 502, 1001}) || !strings.Contains(errs.Error, "3 of 1000 rows") {
		t.Errorf("import with bad rows 101, 502, 1001 (as a spreadsheet numbers them) = %q rows %+v, want those 3", errs.Error, errs.Rows)
	}
	for i, says := range []string{"url", "slug", "label"} {
		if i < len(errs.Rows) && !strings.HasPrefix(errs.Rows[i].Error, says) {
			t.Errorf("row %d: %q, want it to start with %q", errs.Rows[i].Row, errs.Rows[i].Error, says)
		}
	}
	if after := e.storeKeys(); !slices.Equal(before, after) {
		t.Fatalf("a refused import changed the store: %d keys before, %d after", len(before), len(after))
	}

	good := thousandRows(nil)
	var first, second importReply
	r = e.importCSV(good)
	if r.status != http.StatusOK {
		t.Fatalf("import = %s, want 200", r)
	}
	decode(t, r, &first)
	if first.Created != 1000 || first.Unchanged != 0 || len(first.Links) != 1000 {
		t.Fatalf("import: created %d unchanged %d links %d, want 1000, 0, 1000", first.Created, first.Unchanged, len(first.Links))
	}
	keys := e.storeKeys()
	decode(t, e.importCSV(good), &second)
	if second.Created != 0 || second.Unchanged != 1000 {
		t.Errorf("the same file again: created %d unchanged %d, want 0 and 1000", second.Created, second.Unchanged)
	}
	for i := range first.Links {
		if first.Links[i].ID != second.Links[i].ID || first.Links[i].Row != i+2 {
			t.Errorf("row %d: first import %+v, second %+v; want the same link", i+2, first.Links[i], second.Links[i])
			break
		}
	}
	if after := e.storeKeys(); !slices.Equal(keys, after) {
		t.Errorf("importing the same file again changed the store: %d keys before, %d after", len(keys), len(after))
	}

	// What the rows made: row 2 (index 0) is slug csv-Slug-0 on the channel, labels deduplicated, a plan B.
	var l healthLink
	decode(t, e.api(http.MethodGet, "/api/links/csv-Slug-0", ""), &l)
	if l.Target != product(2000) || l.Channel != testChannel || !slices.Equal(l.Labels, []string{"Spring 0", "flyer"}) || l.FallbackURL != product(9000) {
		t.Errorf("csv-Slug-0 = %+v, want %s on %s, labels [Spring 0 flyer], plan B %s", l, product(2000), testChannel, product(9000))
	}
	if total := e.list("label=flyer&limit=1").Total; total != 250 {
		t.Errorf("links labelled flyer = %d, want 250", total)
	}
}

func TestImportCSVRefusesFiles(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	e.create(`{"url":"`+product(2100)+`","slug":"Taken-Slug"}`, http.StatusCreated)
	for _, tc := range []struct{ name, body, says string }{
		{"empty", "", "empty"},
		{"unknown column", "url,slug,price\n" + product(2101) + ",a-slug,3\n", `unknown column "price"`},
		{"no url column", "slug,label\nabc,x\n", "no url column"},
		{"column twice", "url,URL\n" + product(2101) + "," + product(2102) + "\n", "twice"},
		{"not UTF-8", "url,label\n" + product(2101) + ",caf\xe9\n", "UTF-8"},
		{"bare quote", "url,label\n" + product(2101) + ",a\"b\n", "quote"},
	} {
		r := e.importCSV(tc.body)
		if msg := apiError(t, "import "+tc.name, r, http.StatusBadRequest); !strings.Contains(msg, tc.says) {
			t.Errorf("import %s: %q, want it to say %q", tc.name, msg, tc.says)
		}
	}
	for _, tc := range []struct{ name, body, says string }{
		{"slug taken in another case", "url,slug\n" + product(2101) + ",taken-slug\n", "taken"},
		{"same slug twice", "url,slug\n" + product(2101) + ",twice\n" + product(2102) + ",TWICE\n", "row 2"},
		{"share link", "url\nhttps://a.aliexpress.com/_mKxYz12\n", "share link"},
		{"unknown channel", "url,channel\n" + product(2101) + ",nope\n", "channel"},
		{"field count", "url,slug\n" + product(2101) + ",a-slug,extra\n", "3 fields"},
		{"bad fallback", "url,fallback_url\n" + product(2101) + ",https://example.com/\n", "fallback_url"},
	} {
		r := e.importCSV(tc.body)
		var errs importErrors
		if r.status != http.StatusBadRequest {
			t.Errorf("import %s = %s, want 400", tc.name, r)
			continue
		}
		decode(t, r, &errs)
		if len(errs.Rows) != 1 || !strings.Contains(errs.Rows[0].Error, tc.says) {
			t.Errorf("import %s: rows %+v, want one saying %q", tc.name, errs.Rows, tc.says)
		}
	}
	// The same slug twice for the same page is one link.
	var ok importReply
	decode(t, e.importCSV("url,slug\n"+product(2103)+",same\n"+product(2103)+",SAME\n"), &ok)
	if ok.Created != 1 || ok.Unchanged != 1 || ok.Links[0].ID != ok.Links[1].ID {
		t.Errorf("the same slug and page twice: %+v, want one link made, the second row unchanged", ok)
	}

	r := e.request(http.MethodPost, "/api/import", strings.NewReader(`{"url":"x"}`), "Authorization", "Bearer "+testToken, "Content-Type", "application/json")
	apiError(t, "import JSON", r, http.StatusUnsupportedMediaType)
	big := "url\n" + strings.Repeat(product(2104)+"\n", (8<<20)/len(product(2104))+10)
	apiError(t, "import 8 MiB", e.importCSV(big), http.StatusRequestEntityTooLarge)
	apiError(t, "import without token", e.request(http.MethodPost, "/api/import", strings.NewReader("url\n"), "Content-Type", "text/csv"), http.StatusUnauthorized)
}

// GET /api/links?format=csv exports the links found, with their counts, in columns an import reads.
func TestListCSV(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{Health: true})
	summer, winter, _, _ := listFixture(t, e)
	r := e.api(http.MethodGet, "/api/links?format=csv&sort=clicks&q=s", "")
	if r.status != http.StatusOK || !strings.HasPrefix(r.header.Get("Content-Type"), "text/csv") {
		t.Fatalf("GET ?format=csv = %s, want 200 text/csv", r)
	}
	recs, err := csv.NewReader(strings.NewReader(string(r.body))).ReadAll()
	if err != nil {
		t.Fatalf("read the CSV: %v\n%s", err, r.body)
	}
	want := [][]string{
		{"id", "short_url", "url", "slug", "labels", "channel", "fallback_url", "clicks", "visitors", "created", "last_click", "health", "orders", "commission"},
	}
	if len(recs) < 1 || !slices.Equal(recs[0], want[0]) {
		t.Fatalf("header = %q, want %q", recs[0], want[0])
	}
	var ids []string
	for _, rec := range recs[1:] {
		ids = append(ids, rec[0])
	}
	// q=s: summer (slug), winter (slug winter-coats), gadget (gadgets) and the brush (title "Bamboo Toothbrush").
	if len(ids) != 4 || ids[0] != winter || ids[1] != summer {
		t.Fatalf("exported ids %q, want 4 links, most clicked first (%s, %s, …)", ids, winter, summer)
	}
	row := recs[2]
	if row[1] != testBase+"/"+summer || row[2] != product(700) || row[3] != summer || row[4] != "Summer 2026|flyer" ||
		row[7] != "5" || row[11] != "ok" || row[12] != "2" || row[13] != "700" || row[10] == "" {
		t.Errorf("summer's row = %q", row)
	}

	// The export's url, slug, labels (as label), channel and fallback_url import again: into a new
	// store, as the same links.
	e2 := newEnv(t, envOptions{})
	var b strings.Builder
	w := csv.NewWriter(&b)
	_ = w.Write([]string{"url", "slug", "label", "channel", "fallback_url"})
	for _, rec := range recs[1:] {
		_ = w.Write([]string{rec[2], rec[3], rec[4], rec[5], rec[6]})
	}
	w.Flush()
	var imp importReply
	decode(t, e2.importCSV(b.String()), &imp)
	if imp.Created != 4 {
		t.Errorf("import of the export: %+v, want 4 links made", imp)
	}
}
