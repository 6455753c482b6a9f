package store_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redirector/redirector/internal/link"
	"github.com/redirector/redirector/internal/store"
)

// The durable embedded store's costs, on the machine's own disk (each write is synced):
//
//	go test -run '^$' -bench 'Embedded' -benchtime 2s ./internal/store/

// BenchmarkEmbeddedCreate is Records.Create, one after another: what one admin's POST /api/links
// costs in the store (its commands, each synced, before the 201).
func BenchmarkEmbeddedCreate(b *testing.B) {
	dir := b.TempDir()
	rdb, closeFn := openDurable(b, dir)
	records := store.NewRecords(rdb)
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		if err := records.Create(ctx, link.Record{ID: "id" + strconv.Itoa(i), Target: "https://www.aliexpress.com/item/" + strconv.Itoa(i) + ".html"}); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	closeFn()
	if fi, err := os.Stat(filepath.Join(dir, store.EmbeddedFile)); err == nil && i > 0 {
		b.ReportMetric(float64(fi.Size())/float64(i), "file-bytes/record")
	}
}

// BenchmarkEmbeddedCreateParallel is Records.Create from many goroutines: concurrent writers share
// each fsync.
func BenchmarkEmbeddedCreateParallel(b *testing.B) {
	rdb, _ := openDurable(b, b.TempDir())
	records := store.NewRecords(rdb)
	ctx := context.Background()
	var n atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			if err := records.Create(ctx, link.Record{ID: "id" + strconv.FormatInt(i, 10), Target: "https://www.aliexpress.com/item/" + strconv.FormatInt(i, 10) + ".html"}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkEmbeddedClickFlush is one CLICK_FLUSH of the click counter: Counters.AddClicks of a batch
// of 1,000 links' counts, with a writer's sequence as the counter sends them, in one pipeline and one fsync.
func BenchmarkEmbeddedClickFlush(b *testing.B) {
	const links = 1000
	// "memory" is the embedded store without DATA_DIR, as it was before it was kept on disk: the
	// difference is what durability costs.
	for _, mode := range []string{"durable", "memory"} {
		b.Run(mode, func(b *testing.B) {
			dir := b.TempDir()
			if mode == "memory" {
				dir = ""
			}
			rdb, closeFn, err := store.Embedded(dir)
			if err != nil {
				b.Fatal(err)
			}
			defer closeFn()
			counters := store.NewCounters(rdb, 0)
			ctx := context.Background()
			fillRecords(b, rdb, links)
			day := time.Now().UTC().Format("20060102")
			batch := make([]link.ClickCount, links)
			b.ReportAllocs()
			seq := uint64(0)
			for b.Loop() {
				seq++
				for i := range batch {
					batch[i] = link.ClickCount{ID: "id" + strconv.Itoa(i), Day: day, Clicks: 3, Scans: 1, Writer: "bench", Seq: seq}
				}
				if err := counters.AddClicks(ctx, batch); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// fillRecords writes n records with the keys Records and Counters give each (record, target index
// entry, totals, a day's counts) in pipelines of 5,000, faster than n Creates.
func fillRecords(b testing.TB, rdb redis.UniversalClient, n int) {
	b.Helper()
	for start := 0; start < n; start += 5000 {
		fillRecordsT(b, rdb, start, min(5000, n-start))
	}
}

// fillRecordsT writes the records from start to start+n in one pipeline.
func fillRecordsT(b testing.TB, rdb redis.UniversalClient, start, n int) {
	b.Helper()
	ctx := context.Background()
	now := time.Now()
	day := now.UTC().Format("20060102")
	{
		_, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i := start; i < start+n; i++ {
				id := "id" + strconv.Itoa(i)
				target := fmt.Sprintf("https://www.aliexpress.com/item/10050%011d.html", i)
				ms := now.Add(time.Duration(i) * time.Millisecond).UnixMilli()
				p.HSet(ctx, "rd:v1:{"+id+"}:rec", "target", target, "created", ms, "updated", ms)
				p.Set(ctx, fmt.Sprintf("rd:v1:tgt:%032x", i), id, 0)
				p.HSet(ctx, "rd:v1:{"+id+"}:n", "clicks", 12, "scans", 3)
				p.HSet(ctx, "rd:v1:{"+id+"}:d:"+day, "clicks", 12, "scans", 3)
				p.PExpire(ctx, "rd:v1:{"+id+"}:d:"+day, 90*24*time.Hour)
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}
