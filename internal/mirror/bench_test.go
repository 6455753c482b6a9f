package mirror_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redirector/redirector/internal/mirror"
	"github.com/redirector/redirector/internal/redistest"
	"github.com/redirector/redirector/internal/shortlink"
	"github.com/redirector/redirector/internal/store"
)

// benchRecords is how many records the benchmarks load into their redis-server. The figures in
// docs/operations.md are for 1,000,000:
//
//	go test -run '^$' -bench . -benchtime 1x ./internal/mirror -mirror.records 1000000
var benchRecords = flag.Int("mirror.records", 100_000, "records the mirror benchmarks load into Redis")

// loadRecords writes n records (rd:v1:{id}:rec hashes, as Records writes them; every tenth a
// tombstone) into rdb with pipelines of 10,000.
func loadRecords(b *testing.B, rdb *redis.Client, n int) {
	b.Helper()
	ctx := context.Background()
	now := strconv.FormatInt(time.Now().UnixMilli(), 10)
	for start := 0; start < n; start += 10_000 {
		_, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i := start; i < min(start+10_000, n); i++ {
				fields := []any{"target", fmt.Sprintf("https://www.aliexpress.com/item/%d.html", 1005000000000000+i),
					"created", now, "updated", now}
				if i%10 == 3 {
					fields = append(fields, "deleted", "1")
				}
				p.HSet(ctx, fmt.Sprintf("rd:v1:{b%07d}:rec", i), fields...)
			}
			return nil
		})
		if err != nil {
			b.Fatalf("load records: %v", err)
		}
	}
}

// benchIDs returns 1,000 ids of live records among the loaded ones, stride apart.
func benchIDs(stride int) []string {
	ids := make([]string, 1000)
	for i := range ids {
		n := i * max(stride, 1)
		if n%10 == 3 {
			n++ // a tombstone: take the next
		}
		ids[i] = fmt.Sprintf("b%07d", n)
	}
	return ids
}

// benchStore starts a redis-server holding benchRecords records.
func benchStore(b *testing.B) (*store.Records, *redis.Client) {
	b.Helper()
	rs := redistest.Start(b)
	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr})
	b.Cleanup(func() { _ = rdb.Close() })
	loadRecords(b, rdb, *benchRecords)
	return store.NewRecords(rdb), rdb
}

// BenchmarkSync is a first full copy of benchRecords records from a local redis-server into an
// empty mirror file, with the default pause between batches (the pace a replica copies at) and
// without it (the copy's own cost): time, records per second, and the file's size.
func BenchmarkSync(b *testing.B) {
	records, _ := benchStore(b)
	for _, bc := range []struct {
		name  string
		pause time.Duration
	}{{"paused", 0}, {"unpaused", -1}} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				path := filepath.Join(b.TempDir(), "mirror.db")
				m, err := mirror.Open(path, mirror.Options{Pause: bc.pause})
				if err != nil {
					b.Fatal(err)
				}
				start := time.Now()
				n, err := m.Sync(context.Background(), records)
				took := time.Since(start)
				if err != nil || n < *benchRecords {
					b.Fatalf("Sync = %d, %v; want %d records", n, err, *benchRecords)
				}
				_ = m.Close()
				st, err := os.Stat(path)
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(n)/took.Seconds(), "records/s")
				b.ReportMetric(took.Seconds(), "s/copy")
				b.ReportMetric(float64(st.Size())/(1<<20), "file-MiB")
				b.ReportMetric(float64(st.Size())/float64(n), "file-B/record")
			}
		})
	}
}

// BenchmarkResync is a full copy into a mirror that holds every record already (what each
// MIRROR_RESYNC costs), with the default pause.
func BenchmarkResync(b *testing.B) {
	records, _ := benchStore(b)
	m, err := mirror.Open(filepath.Join(b.TempDir(), "mirror.db"), mirror.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = m.Close() })
	if _, err := m.Sync(context.Background(), records); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		start := time.Now()
		n, err := m.Sync(context.Background(), records)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(n)/time.Since(start).Seconds(), "records/s")
	}
}

// BenchmarkRecord is a lookup answered from the mirror (what a click costs while Redis is down).
func BenchmarkRecord(b *testing.B) {
	records, _ := benchStore(b)
	m, err := mirror.Open(filepath.Join(b.TempDir(), "mirror.db"), mirror.Options{Pause: -1})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = m.Close() })
	if _, err := m.Sync(context.Background(), records); err != nil {
		b.Fatal(err)
	}
	ids := benchIDs(*benchRecords / 1000)
	b.ReportAllocs()
	b.ResetTimer()
	var i atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			id := ids[int(i.Add(1))%len(ids)]
			if _, ok, err := m.Record(id); !ok || err != nil {
				b.Fatalf("Record(%s) = %v, %v", id, ok, err)
			}
		}
	})
}

// BenchmarkLookupDuringSync measures the hot path's lookups while a full copy runs beside them
// (copying again and again, with the default pause) and while none does: a click answered from
// the first tier (tier1), and one whose record is read from Redis (redis; RECORD_CACHE_TTL past).
func BenchmarkLookupDuringSync(b *testing.B) {
	records, _ := benchStore(b)
	m, err := mirror.Open(filepath.Join(b.TempDir(), "mirror.db"), mirror.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = m.Close() })
	hot := shortlink.New(records, shortlink.Options{Fresh: time.Hour})
	cold := shortlink.New(records, shortlink.Options{Fresh: time.Nanosecond})
	ids := benchIDs(*benchRecords / 1000)
	for _, id := range ids {
		if _, ok, err := hot.Link(context.Background(), id); !ok || err != nil {
			b.Fatalf("Link(%s) = %v, %v", id, ok, err)
		}
	}
	for _, scanning := range []bool{false, true} {
		for _, tier := range []struct {
			name string
			l    *shortlink.Lookup
		}{{"tier1", hot}, {"redis", cold}} {
			name := "idle/" + tier.name
			if scanning {
				name = "scanning/" + tier.name
			}
			b.Run(name, func(b *testing.B) {
				ctx, cancel := context.WithCancel(context.Background())
				var wg sync.WaitGroup
				if scanning {
					wg.Go(func() {
						for ctx.Err() == nil {
							_, _ = m.Sync(ctx, records)
						}
					})
				}
				b.ReportAllocs()
				var i atomic.Int64
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						id := ids[int(i.Add(1))%len(ids)]
						if _, ok, err := tier.l.Link(context.Background(), id); !ok || err != nil {
							b.Fatalf("Link(%s) = %v, %v", id, ok, err)
						}
					}
				})
				cancel()
				wg.Wait()
			})
		}
	}
}
