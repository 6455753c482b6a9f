package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/redirector/redirector/internal/link"
	"github.com/redirector/redirector/internal/redistest"
	"github.com/redirector/redirector/internal/store"
)

// csvFile writes 1,000 rows of links to a file (rows 101, 502 and 1001 bad when bad is set) and
// returns its path.
func csvFile(t *testing.T, bad bool) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("\uFEFFlabel,url,slug\n")
	for i := range 1000 {
		label, url, slug := "", fmt.Sprintf("https://www.aliexpress.com/item/%d.html", 1005002000000000+i), ""
		if i%2 == 0 {
			label, slug = "Print run|flyer", fmt.Sprintf("flyer-%d", i)
		}
		if bad {
			switch i {
			case 99:
				url = "https://www.amazon.com/dp/B000"
			case 500:
				slug = "x"
			case 999:
				label = "bad\x07bell"
			}
		}
		fmt.Fprintf(&b, "%s,%s,%s\n", label, url, slug)
	}
	path := filepath.Join(t.TempDir(), "links.csv")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestImportCSVCommand: `redirector import --csv` refuses a file with bad rows whole, naming each,
// and makes the links of a good one once.
func TestImportCSVCommand(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t)
	environ := []string{"REDIS_URL=" + rs.URL}
	rdb, err := store.Connect(t.Context(), rs.URL, store.ConnectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()

	var stderr bytes.Buffer
	err = run(t.Context(), []string{"import", "--csv", csvFile(t, true)}, environ, strings.NewReader(""), &bytes.Buffer{}, &stderr)
	var usage usageError
	if !errors.As(err, &usage) || !strings.Contains(err.Error(), "3 of 1000 rows are bad; nothing was written") {
		t.Fatalf("import --csv with 3 bad rows: %v, want a usage error naming 3 bad rows", err)
	}
	for _, row := range []string{"row 101: url", "row 502: slug", "row 1001: label"} {
		if !strings.Contains(stderr.String(), row) {
			t.Errorf("stderr %q does not name %q", stderr.String(), row)
		}
	}
	if n := strings.Count(stderr.String(), "\nrow ") + 1; n != 3 {
		t.Errorf("stderr names %d rows, want 3:\n%s", n, stderr.String())
	}
	if n, err := rdb.DBSize(t.Context()).Result(); err != nil || n != 0 {
		t.Fatalf("after a refused import, DBSIZE = %d, %v; want 0", n, err)
	}

	good := csvFile(t, false)
	for _, want := range []string{"1000 rows read: 1000 links created, 0 unchanged", "1000 rows read: 0 links created, 1000 unchanged"} {
		stderr.Reset()
		if err := run(t.Context(), []string{"import", "--csv", good}, environ, strings.NewReader(""), &bytes.Buffer{}, &stderr); err != nil {
			t.Fatalf("import --csv: %v; stderr %s", err, stderr.String())
		}
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("import --csv said %q, want %q", stderr.String(), want)
		}
	}
	recs := allRecords(t, rs)
	if len(recs) != 1000 {
		t.Fatalf("records after import = %d, want 1000", len(recs))
	}
	i := slices.IndexFunc(recs, func(r link.Record) bool { return r.ID == "flyer-0" })
	if i < 0 || !slices.Equal(recs[i].Labels.All(), []string{"Print run", "flyer"}) {
		t.Fatalf("flyer-0 (found %v) after import: want labels [Print run flyer]", i >= 0)
	}

	// The JSON Lines export keeps the labels, and its import brings them back.
	var dump bytes.Buffer
	if err := run(t.Context(), []string{"export"}, environ, strings.NewReader(""), &dump, &bytes.Buffer{}); err != nil {
		t.Fatalf("export: %v", err)
	}
	if !strings.Contains(dump.String(), `"labels":["Print run","flyer"]`) {
		t.Fatalf("export has no labels:\n%.500s", dump.String())
	}
	rs2 := redistest.Start(t)
	if err := run(t.Context(), []string{"import"}, []string{"REDIS_URL=" + rs2.URL}, &dump, &bytes.Buffer{}, &bytes.Buffer{}); err != nil {
		t.Fatalf("import: %v", err)
	}
	recs2 := allRecords(t, rs2)
	j := slices.IndexFunc(recs2, func(r link.Record) bool { return r.ID == "flyer-0" })
	if j < 0 || recs2[j].Labels != recs[i].Labels {
		t.Errorf("flyer-0 (found %v) after export and import: want labels %q", j >= 0, recs[i].Labels.All())
	}
}
