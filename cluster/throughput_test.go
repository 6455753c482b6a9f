//go:build cluster

package cluster_test

import (
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

var (
	throughputFor = flag.Duration("cluster.throughput", 10*time.Second,
		"how long TestClusterThroughput measures each number of replicas; 0 skips it")
	throughputWorkers = flag.Int("cluster.workers", 64,
		"concurrent requests (and keep-alive connections) of TestClusterThroughput's load generator")
)

// throughputRow is one measured run.
type throughputRow struct {
	replicas int
	rps      float64
	p50, p99 time.Duration
	requests uint64
	bad      uint64 // transport errors and answers other than a 302 to the tagged link
}

// TestClusterThroughput measures hot /go (one product, cached in every replica's first tier)
// through one, two and three replicas over the Redis Cluster, the requests spread round-robin,
// with the same load generator (vegeta, in this process) each time. It logs a table. Everything,
// the generator included, shares this machine's CPUs, so the figures say what one host gives,
// not what separate hosts would.
func TestClusterThroughput(t *testing.T) {
	if *throughputFor <= 0 {
		t.Skip("-cluster.throughput=0")
	}
	rc := startRedisCluster(t)
	p, api := fakePlatform(t)
	rs := startReplicas(t, 3, serviceEnv(p, api, rc))
	page, tagged := product(900)
	path := "/go?u=" + url.QueryEscape(page)
	for _, r := range rs {
		if rep := r.must(t, http.MethodGet, path, ""); rep.status != http.StatusFound || rep.location != tagged {
			t.Fatalf("%s: GET %s = %d %q, want 302 %q", r.name, path, rep.status, rep.location, tagged)
		}
	}

	var rows []throughputRow
	for n := 1; n <= len(rs); n++ {
		_ = attack(rs[:n], path, tagged, *throughputWorkers, time.Second) // connections up, caches hot
		row := attack(rs[:n], path, tagged, *throughputWorkers, *throughputFor)
		row.replicas = n
		if row.bad > 0 {
			t.Errorf("%d replicas: %d of %d requests failed or were not a 302 to %s", n, row.bad, row.requests, tagged)
		}
		rows = append(rows, row)
	}

	var b strings.Builder
	fmt.Fprintf(&b, "hot /go, one cached product, %d workers, %v per run, %d CPUs shared by the generator, the replicas and 6 redis-servers\n",
		*throughputWorkers, *throughputFor, runtime.NumCPU())
	b.WriteString("| replicas | requests/s | × one replica | p50 | p99 | errors |\n|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %d | %.0f | %.2f | %v | %v | %d |\n", r.replicas, r.rps, r.rps/rows[0].rps,
			r.p50.Round(10*time.Microsecond), r.p99.Round(10*time.Microsecond), r.bad)
	}
	t.Log("\n" + b.String())
}

// attack sends GET path round-robin to rs as fast as workers concurrent requests go, for d, and
// returns what it measured.
func attack(rs []*replica, path, want string, workers int, d time.Duration) throughputRow {
	urls := make([]string, len(rs))
	for i, r := range rs {
		urls[i] = r.base + path
	}
	hdr := http.Header{"User-Agent": []string{browserUA}}
	var next atomic.Uint64
	targeter := func(tgt *vegeta.Target) error {
		tgt.Method = http.MethodGet
		tgt.URL = urls[next.Add(1)%uint64(len(urls))]
		tgt.Header = hdr
		return nil
	}
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConnsPerHost: workers,
		IdleConnTimeout:     30 * time.Second,
		DisableCompression:  true,
	}
	defer tr.CloseIdleConnections()
	atk := vegeta.NewAttacker(
		vegeta.Client(&http.Client{Transport: tr, Timeout: 10 * time.Second}),
		vegeta.Redirects(vegeta.NoFollow),
		vegeta.Workers(uint64(workers)),
		vegeta.MaxWorkers(uint64(workers)),
	)
	var m vegeta.Metrics
	var bad uint64
	for res := range atk.Attack(targeter, vegeta.Rate{Freq: 0}, d, "throughput") {
		m.Add(res)
		if res.Error != "" || res.Code != http.StatusFound || res.Headers.Get("Location") != want {
			bad++
		}
	}
	m.Close()
	return throughputRow{
		rps:      float64(m.Requests) / (m.Duration + m.Wait).Seconds(),
		p50:      m.Latencies.P50,
		p99:      m.Latencies.P99,
		requests: m.Requests,
		bad:      bad,
	}
}
