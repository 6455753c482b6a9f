package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redirector/redirector/internal/affiliate/affiliatetest"
	"github.com/redirector/redirector/internal/aliurl"
)

// The peer (-peer) is noquark/wormholes's redirector at commit ca5752c, measured beside the
// service in scenario (d): fiber on fasthttp with Prefork (one process per CPU under a master),
// one HGETALL per click through radix's pool, PostgreSQL only on a miss, a 301 with a cookie, and
// each click queued for a batched INSERT into a "clicks" table. Its source is never part of this
// repository: the harness builds a checkout the user gives, creates a PostgreSQL database of its
// own from the peer's own schema files (without TimescaleDB's create_hypertable: plain PostgreSQL
// tables), seeds the run's Redis, and drops the database when it ends.

// peerName is the peer's row in the report.
const peerName = "peer: noquark/wormholes ca5752c, same Zipf mix on its `/{id}` (301 + cookie, every click an `HGETALL`; CPU of its prefork processes summed)"

// peerFiles are what a checkout of the peer at ca5752c must hold.
var peerFiles = []string{"lib/go.mod", "lib/cache/cache.go", "lib/db/sql/postgres.sql", "lib/db/sql/timescale.sql", "services/redirector/go.mod", "services/redirector/main.go"}

// checkPeerDir says what is missing from a checkout of the peer.
func checkPeerDir(dir string) error {
	var missing []string
	for _, f := range peerFiles {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			missing = append(missing, f)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("-peer %s is not a checkout of noquark/wormholes at ca5752c (missing %s)", dir, strings.Join(missing, ", "))
	}
	return nil
}

// checkPeerPG checks the PostgreSQL URL the harness creates the peer's database through.
func checkPeerPG(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("-peer-pg: %w", err)
	}
	if (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Host == "" {
		return fmt.Errorf("-peer-pg %q: want postgres://user@host:port/database", raw)
	}
	return nil
}

// withDatabase returns the PostgreSQL URL raw naming database db instead.
func withDatabase(raw, db string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	u.Path = "/" + db
	return u.String()
}

// hypertable matches TimescaleDB's create_hypertable call in the peer's schema, which plain
// PostgreSQL does not have: the clicks table stays an ordinary table.
var hypertable = regexp.MustCompile(`(?is)select\s+create_hypertable\s*\(.*?\)\s*;`)

// peerSchema returns the peer's own schema (its links and clicks tables) for plain PostgreSQL.
func peerSchema(dir string) (string, error) {
	var b strings.Builder
	for _, f := range []string{"lib/db/sql/postgres.sql", "lib/db/sql/timescale.sql"} {
		sql, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			return "", err
		}
		b.WriteString(hypertable.ReplaceAllString(string(sql), ""))
		b.WriteString("\n")
	}
	return b.String(), nil
}

// peer is the running peer.
type peer struct {
	p    *proc
	base string
	dsn  string // its database
	// pgPID is the PostgreSQL server's postmaster, whose tree (the backends that write the
	// peer's clicks) is measured over the rounds; 0 if it could not be found.
	pgPID int
	// pgCPU is the PostgreSQL server's CPU over the rounds of scenario (d); negative: unknown.
	pgCPU time.Duration
}

// psql runs one psql command against dsn.
func psql(ctx context.Context, dsn string, args ...string) error {
	_, err := psqlOut(ctx, dsn, args...)
	return err
}

// psqlOut runs one psql command against dsn and returns its unaligned output.
func psqlOut(ctx context.Context, dsn string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "psql", append([]string{"-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", dsn}, args...)...)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("psql %s: %w\n%s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(out.String()), nil
}

// postmasterPID returns the pid of the PostgreSQL server dsn reaches: the first line of
// postmaster.pid in its data directory (a superuser's setting to read; the peer's database is
// created as one).
func postmasterPID(ctx context.Context, dsn string) (int, error) {
	dataDir, err := psqlOut(ctx, dsn, "-c", "show data_directory")
	if err != nil {
		return 0, err
	}
	b, err := os.ReadFile(filepath.Join(dataDir, "postmaster.pid"))
	if err != nil {
		return 0, err
	}
	first, _, _ := strings.Cut(string(b), "\n")
	return strconv.Atoi(strings.TrimSpace(first))
}

// pgTreeCPU returns the PostgreSQL server's CPU so far, summed over its processes; negative when
// unknown.
func (pr *peer) pgTreeCPU() time.Duration {
	if pr == nil || pr.pgPID == 0 {
		return -1
	}
	cpu, _, err := procTreeCPU(pr.pgPID)
	if err != nil {
		return -1
	}
	return cpu
}

// peerNote says what the peer did meanwhile: the click events it wrote to PostgreSQL (it
// flushes a stream's batch at 10,000 events or every 10 s, so the last seconds' may be missing).
func (h *harness) peerNote(ctx context.Context, rep *report, c *comparison) {
	n, err := psqlOut(ctx, h.peer.dsn, "-c", "select count(*) from clicks")
	if err != nil {
		n = "an unknown number of (" + err.Error() + ")"
	}
	rep.note(fmt.Sprintf("(d) the peer answered %s requests in its measured slices (plus its warm-up) with a 301 and a cookie, and had written %s click events "+
		"to its PostgreSQL clicks table when the rounds ended; the service answers a 302 and, on /go, records no click (it counts short links' clicks, on /{id}, in Redis). The peer's CPU per request is the "+
		"utime+stime of its prefork master and children summed (/proc/<pid>/stat of each, found by parent pid); PostgreSQL's own CPU, like Redis's for both, is not in it. %s",
		count(c.peer.requests()), n, pgShare(h.peer.pgCPU, c.peer.requests())))
}

// buildPeer compiles the peer's redirector from the checkout with a workspace of its two
// modules (the checkout's own go.work names modules the redirector does not need).
func buildPeer(ctx context.Context, dir, checkout string) (string, error) {
	abs, err := filepath.Abs(checkout)
	if err != nil {
		return "", err
	}
	work := filepath.Join(dir, "peer.go.work")
	text := fmt.Sprintf("go 1.22.0\n\nuse (\n\t%s\n\t%s\n)\n", filepath.Join(abs, "lib"), filepath.Join(abs, "services/redirector"))
	if err := os.WriteFile(work, []byte(text), 0o644); err != nil {
		return "", err
	}
	out := filepath.Join(dir, "wormholes")
	cmd := exec.CommandContext(ctx, goBinary(), "build", "-trimpath", "-o", out, ".")
	cmd.Dir = filepath.Join(abs, "services/redirector")
	cmd.Env = append(os.Environ(), "GOWORK="+work)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build the peer: %w\n%s", err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// peerKey is the peer's short id (and Redis key) of the product id: its decimal digits, as
// lua/zipf.lua asks for it.
func peerKey(id uint64) string { return strconv.FormatUint(id, 10) }

// seedPeer writes the peer's cached link, a hash of id, target and tag under the short id, for
// each of the n products from base, the target being the link the fake platform gives for it.
func seedPeer(ctx context.Context, redisAddr string, base uint64, n int) error {
	rdb := redis.NewClient(&redis.Options{Addr: redisAddr})
	defer rdb.Close()
	const chunk = 1000
	for from := 0; from < n; from += chunk {
		pipe := rdb.Pipeline()
		for i := from; i < min(from+chunk, n); i++ {
			page, err := aliurl.Parse(productURL(base + uint64(i)))
			if err != nil {
				return err
			}
			key := peerKey(base + uint64(i))
			pipe.HSet(ctx, key, "id", key, "target", affiliatetest.Link(page.URL), "tag", "bench")
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return fmt.Errorf("seed the peer: %w", err)
		}
	}
	return nil
}

// startPeer builds the peer, creates its database, seeds Redis at redisAddr with the n products
// from base and starts it. Its database is dropped, and its processes stopped, by h.close.
func (h *harness) startPeer(ctx context.Context, redisAddr string, base uint64, n int) (*peer, error) {
	o := h.opts
	h.logf("building the peer from %s", o.peer)
	bin, err := buildPeer(ctx, h.dir, o.peer)
	if err != nil {
		return nil, err
	}
	schema, err := peerSchema(o.peer)
	if err != nil {
		return nil, err
	}
	db := fmt.Sprintf("peerbench_%d", os.Getpid())
	if err := psql(ctx, o.peerPG, "-c", "drop database if exists "+db, "-c", "create database "+db); err != nil {
		return nil, err
	}
	h.cleanups = append(h.cleanups, func() {
		if err := psql(context.Background(), o.peerPG, "-c", "drop database if exists "+db+" with (force)"); err != nil {
			h.logf("dropping the peer's database: %v", err)
		}
	})
	dsn := withDatabase(o.peerPG, db)
	schemaFile := filepath.Join(h.dir, "peer-schema.sql")
	if err := os.WriteFile(schemaFile, []byte(schema), 0o644); err != nil {
		return nil, err
	}
	if err := psql(ctx, dsn, "-f", schemaFile); err != nil {
		return nil, err
	}
	h.logf("seeding the peer's %d links in Redis", n)
	if err := seedPeer(ctx, redisAddr, base, n); err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	p, err := h.ps.start("wormholes", h.dir, bin, nil, []string{
		"PORT=" + strconv.Itoa(port), "REDIS_URI=redis://" + redisAddr + "/0", "PG_URI=" + dsn, "TS_URI=" + dsn,
	})
	if err != nil {
		return nil, err
	}
	// Prefork's children are in the master's process group: stop them with it.
	h.cleanups = append([]func(){func() { _ = syscall.Kill(-p.pid(), syscall.SIGKILL) }}, h.cleanups...)
	pr := &peer{p: p, base: "http://127.0.0.1:" + strconv.Itoa(port), dsn: dsn, pgCPU: -1}
	if pr.pgPID, err = postmasterPID(ctx, dsn); err != nil {
		h.logf("PostgreSQL's CPU will not be measured: %v", err)
	}
	first := pr.base + "/" + peerKey(base)
	if err := waitHTTP(ctx, p, first, http.StatusMovedPermanently, 20*time.Second); err != nil {
		return nil, err
	}
	// Every child must be listening before the rounds start; the master counts with them.
	pids, err := procTree(p.pid())
	if err != nil {
		return nil, err
	}
	h.logf("the peer runs as %d processes (prefork: a master and its children), whose CPU is summed", len(pids))
	return pr, nil
}

// checkPeer asks the peer for one seeded link and warns in the report if the answer is not a
// 301 to the link seeded for it.
func (h *harness) checkPeer(ctx context.Context, rep *report, pr *peer, id uint64) error {
	page, err := aliurl.Parse(productURL(id))
	if err != nil {
		return err
	}
	code, loc, err := get(ctx, pr.base+"/"+peerKey(id))
	if err != nil {
		return fmt.Errorf("the peer: %w", err)
	}
	if want := affiliatetest.Link(page.URL); code != http.StatusMovedPermanently || loc != want {
		rep.warn(fmt.Sprintf("the peer answered %d to %q, not 301 to %q", code, loc, want))
	}
	return nil
}

// procTree returns pid and every process descended from it (prefork's children), read from /proc.
func procTree(pid int) ([]int, error) {
	stats, err := readStats()
	if err != nil {
		return nil, err
	}
	if _, ok := stats[pid]; !ok {
		return nil, fmt.Errorf("process %d not found", pid)
	}
	return descendants(pid, stats), nil
}

// procTreeCPU returns the user and system time used so far by pid and its descendants, and how
// many processes that is. A child that exited between two readings takes its time with it: the
// peer's children live as long as it does.
func procTreeCPU(pid int) (time.Duration, int, error) {
	stats, err := readStats()
	if err != nil {
		return 0, 0, err
	}
	if _, ok := stats[pid]; !ok {
		return 0, 0, fmt.Errorf("process %d not found", pid)
	}
	pids := descendants(pid, stats)
	var sum time.Duration
	for _, p := range pids {
		sum += stats[p].cpu
	}
	return sum, len(pids), nil
}

// procStat is what the harness reads of one /proc/<pid>/stat.
type procStat struct {
	ppid int
	cpu  time.Duration
}

// readStats reads every process's parent and CPU time; processes gone meanwhile are skipped.
func readStats() (map[int]procStat, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	out := make(map[int]procStat, len(ents))
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		st, err := parseStat(string(b))
		if err != nil {
			return nil, err
		}
		out[pid] = st
	}
	return out, nil
}

// parseStat reads the parent (field 4) and utime plus stime of a /proc/<pid>/stat line.
func parseStat(stat string) (procStat, error) {
	cpu, err := parseStatCPU(stat)
	if err != nil {
		return procStat{}, err
	}
	f := strings.Fields(stat[strings.LastIndexByte(stat, ')')+1:]) // f[1] is field 4
	ppid, err := strconv.Atoi(f[1])
	if err != nil {
		return procStat{}, fmt.Errorf("stat %q: %w", stat, err)
	}
	return procStat{ppid: ppid, cpu: cpu}, nil
}

// descendants returns root and every process below it in stats, root first.
func descendants(root int, stats map[int]procStat) []int {
	children := map[int][]int{}
	for pid, st := range stats {
		children[st.ppid] = append(children[st.ppid], pid)
	}
	out, seen := []int{root}, map[int]bool{root: true}
	for i := 0; i < len(out); i++ {
		for _, c := range children[out[i]] {
			if !seen[c] {
				seen[c] = true
				out = append(out, c)
			}
		}
	}
	return out
}

// errNoPeer is returned by the peer's flags when one is given without the other's need.
var errNoPeer = errors.New("-peer is measured in scenario (d): add redis to -scenarios")

// peerSpec returns the peer's run of a Zipf spec: the same draw over the same products, asked as
// the peer's /{id} (lua/zipf.lua's fifth argument), its processes' CPU summed.
func peerSpec(zipf wrkSpec) wrkSpec {
	one := zipf
	one.url, one.tree = "/", true
	one.args = append(append([]string{}, zipf.args...), "id")
	return one
}

// pgShare says how much CPU the PostgreSQL server used over the rounds, per request of the peer's
// measured slices.
func pgShare(cpu time.Duration, requests int) string {
	if cpu < 0 || requests == 0 {
		return "PostgreSQL's CPU over the rounds was not measured."
	}
	return fmt.Sprintf("PostgreSQL's processes used %.1f s of CPU over the rounds (all four servers' slices: the peer's batches are written when full or every 10 s), "+
		"%.1f µs per request of the peer's measured slices (the machine's PostgreSQL is shared: other use of it counts too).",
		cpu.Seconds(), float64(cpu.Microseconds())/float64(requests))
}
