package health_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/redirector/redirector/internal/affiliate/affiliatetest"
	"github.com/redirector/redirector/internal/aliurl"
	"github.com/redirector/redirector/internal/health"
	"github.com/redirector/redirector/internal/link"
	"github.com/redirector/redirector/internal/store"
)

// A link's health history holds each change of state the checks find, newest first, at most
// store.HealthHistoryLen of them; a new target starts it over, and deleting the link deletes it.
func TestHealthHistory(t *testing.T) {
	const pid = 1005001234567002
	fake, client, rdb, rec := startHealthFixture(t, pid)
	ctx := context.Background()
	records := store.NewRecords(rdb)
	// Each check runs a minute after the last, so that the history's times tell the checks apart.
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	m := health.New(records, client, nopChanges{}, health.Options{Rate: 1000, Now: func() time.Time { return now }})
	alive := func(yes bool) {
		if yes {
			fake.RestoreProduct(strconv.Itoa(pid))
			fake.SetProduct(strconv.Itoa(pid), affiliatetest.Product{ID: strconv.Itoa(pid), Title: "Desk Lamp", Price: "9.99", Currency: "USD"})
		} else {
			fake.RemoveProduct(strconv.Itoa(pid))
		}
	}
	var checks []time.Time
	check := func() {
		t.Helper()
		now = now.Add(time.Minute)
		checks = append(checks, now)
		if _, err := m.CheckAll(ctx); err != nil {
			t.Fatalf("CheckAll: %v", err)
		}
	}
	history := func() []store.HealthChange {
		t.Helper()
		h, err := m.History(ctx, rec.ID)
		if err != nil {
			t.Fatalf("History: %v", err)
		}
		return h
	}
	equal := func(what string, got, want []store.HealthChange) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("%s: history %+v, want %+v", what, got, want)
		}
		for i := range got {
			if !got[i].At.Equal(want[i].At) || got[i].From != want[i].From || got[i].To != want[i].To {
				t.Fatalf("%s: history[%d] = %+v, want %+v (whole: %+v)", what, i, got[i], want[i], got)
			}
		}
	}
	if h := history(); len(h) != 0 {
		t.Fatalf("before any check: history %+v, want none", h)
	}

	// ok → ok (no change) → gone → ok.
	alive(true)
	check()
	check()
	alive(false)
	check()
	alive(true)
	check()
	equal("ok, ok, gone, ok", history(), []store.HealthChange{
		{At: checks[3], From: link.HealthGone, To: link.HealthOK},
		{At: checks[2], From: link.HealthOK, To: link.HealthGone},
		{At: checks[0], From: link.HealthUnknown, To: link.HealthOK},
	})

	// 30 more changes: the newest HealthHistoryLen are kept.
	want := history()
	for i := range 30 {
		alive(i%2 == 1)
		check()
		from, to := link.HealthOK, link.HealthGone
		if i%2 == 1 {
			from, to = to, from
		}
		want = append([]store.HealthChange{{At: checks[len(checks)-1], From: from, To: to}}, want...)
	}
	equal("33 changes", history(), want[:store.HealthHistoryLen])
	if n, err := rdb.LLen(ctx, "rd:v1:{"+rec.ID+"}:hh").Result(); err != nil || n != store.HealthHistoryLen {
		t.Errorf("LLEN of the history key = %d, %v; want %d", n, err, store.HealthHistoryLen)
	}

	// A new target starts the history over.
	other, err := aliurl.Parse("https://www.aliexpress.com/item/1005001234567003.html")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := records.Retarget(ctx, rec.ID, other.URL, now); err != nil {
		t.Fatalf("Retarget: %v", err)
	}
	equal("after a retarget", history(), nil)
	fake.SetProduct("1005001234567003", affiliatetest.Product{ID: "1005001234567003", Title: "Chair", Price: "19.99", Currency: "USD"})
	check()
	equal("the new target's first check", history(), []store.HealthChange{{At: checks[len(checks)-1], From: link.HealthUnknown, To: link.HealthOK}})

	// Deleting the link deletes its history.
	if err := records.Delete(ctx, rec.ID, now); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if n, err := rdb.Exists(ctx, "rd:v1:{"+rec.ID+"}:hh").Result(); err != nil || n != 0 {
		t.Errorf("EXISTS history key after Delete = %d, %v; want 0", n, err)
	}
	equal("after Delete", history(), nil)
}
