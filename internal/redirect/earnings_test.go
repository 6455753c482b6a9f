package redirect

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/redirector/redirector/internal/earnings"
)

// TestSubID: with SUB_ID=link a tagged short-link click carries af=<id>; without it, nothing is added.
func TestSubID(t *testing.T) {
	for _, on := range []bool{false, true} {
		e := newEnv(t, envOptions{SubID: on})
		l := e.create(`{"url":"https://www.aliexpress.com/item/1005001111111111.html"}`, http.StatusCreated)
		r := e.get("/" + l.ID)
		if r.status != http.StatusFound {
			t.Fatalf("/%s = %s", l.ID, r)
		}
		loc := r.header.Get("Location")
		has := strings.HasSuffix(loc, "?af="+l.ID) || strings.HasSuffix(loc, "&af="+l.ID)
		if has != on {
			t.Errorf("SUB_ID=link %v: Location %q", on, loc)
		}
	}
}

// TestEarningsAPI: a link's earnings and the report by channel, as JSON and CSV, from stored orders.
func TestEarningsAPI(t *testing.T) {
	e := newEnv(t, envOptions{})
	l := e.create(`{"url":"https://www.aliexpress.com/item/1005002222222222.html"}`, http.StatusCreated)
	st := earnings.NewStore(e.rdb, 0)
	zone := earnings.DefaultZone()
	paid := time.Date(2026, 3, 8, 23, 30, 0, 0, zone) // a summer-time evening: still 8 March there
	for _, o := range []earnings.Order{
		{SubOrderID: "1", Channel: "test_tracking", ProductID: "1005002222222222", Status: earnings.StatusPaid, Items: 2, Sales: 1000, Estimated: 70, Currency: "USD", PaidAt: paid, Day: "2026-03-08", Bucket: earnings.BucketLink, LinkID: l.ID},
		{SubOrderID: "2", Channel: testChannel, ProductID: "1005002222222222", Status: earnings.StatusSettled, Items: 1, Sales: 500, Estimated: 40, Settled: 40, Currency: "USD", PaidAt: paid, Day: "2026-03-08", Bucket: earnings.BucketLink, LinkID: l.ID},
		{SubOrderID: "3", Channel: testChannel, ProductID: "9", Status: earnings.StatusInvalid, Void: true, Currency: "USD", PaidAt: paid, Day: "2026-03-08", Bucket: earnings.BucketGo},
	} {
		if _, err := st.Put(context.Background(), o); err != nil {
			t.Fatal(err)
		}
	}
	var got struct {
		linkReply
		Earnings struct {
			Orders     int64   `json:"orders"`
			Items      int64   `json:"items"`
			Sales      int64   `json:"sales"`
			Estimated  int64   `json:"estimated_commission"`
			Settled    int64   `json:"settled_commission"`
			Currency   string  `json:"currency"`
			Conversion float64 `json:"conversion"`
			PerClick   float64 `json:"commission_per_click"`
		} `json:"earnings"`
	}
	r := e.api(http.MethodGet, "/api/links/"+l.ID, "")
	decodeLoose(t, r, &got)
	if g := got.Earnings; g.Orders != 2 || g.Items != 3 || g.Sales != 1500 || g.Estimated != 110 || g.Settled != 40 || g.Currency != "USD" {
		t.Errorf("earnings = %+v, want 2 orders, 3 items, 1500 sales, 110 estimated, 40 settled, USD", g)
	}

	var rep struct {
		Rows []struct {
			Key    string `json:"key"`
			Orders int64  `json:"orders"`
			Sales  int64  `json:"sales"`
		} `json:"rows"`
	}
	decodeLoose(t, e.api(http.MethodGet, "/api/reports/earnings?from=2026-03-08&to=2026-03-08&by=channel", ""), &rep)
	want := map[string][2]int64{"test_tracking": {1, 1000}, testChannel: {1, 500}}
	if len(rep.Rows) != len(want) {
		t.Errorf("report rows = %+v, want %v", rep.Rows, want)
	}
	for _, row := range rep.Rows {
		if w := want[row.Key]; row.Orders != w[0] || row.Sales != w[1] {
			t.Errorf("channel %s: %d orders, %d sales; want %v", row.Key, row.Orders, row.Sales, w)
		}
	}
	// The day before, in the platform's zone, has none (in UTC the orders are on 9 March).
	decodeLoose(t, e.api(http.MethodGet, "/api/reports/earnings?from=2026-03-09&to=2026-03-09&by=day", ""), &rep)
	if len(rep.Rows) != 0 {
		t.Errorf("9 March rows = %+v, want none", rep.Rows)
	}

	r = e.request(http.MethodGet, "/api/reports/earnings?from=2026-03-08&to=2026-03-08&by=link", nil, "Authorization", "Bearer "+testToken, "Accept", "text/csv")
	if r.status != http.StatusOK || !strings.HasPrefix(r.header.Get("Content-Type"), "text/csv") {
		t.Fatalf("CSV report = %s", r)
	}
	recs, err := csv.NewReader(strings.NewReader(string(r.body))).ReadAll()
	if err != nil || len(recs) != 3 || recs[0][0] != "link" {
		t.Fatalf("CSV = %q (%v), want a header and 2 rows", r.body, err)
	}

	for _, q := range []string{"by=nope", "from=2026-13-01", "from=2026-03-09&to=2026-03-08", "from=2020-01-01&to=2026-01-01"} {
		apiError(t, q, e.api(http.MethodGet, "/api/reports/earnings?"+q, ""), http.StatusBadRequest)
	}
}

// decodeLoose reads the fields of a JSON body that v names, failing the test when it is not JSON.
func decodeLoose(t *testing.T, r reply, v any) {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("%s: want 200", r)
	}
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r, err)
	}
}
