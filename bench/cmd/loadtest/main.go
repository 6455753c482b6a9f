// Command loadtest measures the redirector binary under load against two floors on the same
// machine, a bare net/http redirect and the same with the service's server limits, and checks the
// targets of issues #6, #13 and #20. It builds the binaries, starts a Redis of its own, the strict
// platform fake (in process, with a realistic latency), the floors and the service, drives the
// throughput scenarios with wrk (one thread, Lua scripts in lua/) and the paced soak and the floods
// with vegeta, prints markdown tables with the service's CPU per request and the generator's own
// CPU, writes them to bench/RESULTS.md, and stops everything it started, also on Ctrl-C. Loopback only.
//
//	go run ./bench/cmd/loadtest                      # what `make bench` runs (about 5 minutes)
//	go run ./bench/cmd/loadtest -quick               # issue 20's figures alone, with profiles (about 4 minutes)
//	go run ./bench/cmd/loadtest -duration 3s -soak 30s   # a quick look
//	go run ./bench/cmd/loadtest -mem1m               # also: 1,000,000 entries in the first tier
//	go run ./bench/cmd/loadtest -scenarios redis -soak 0 -peer DIR   # (d) with the peer beside the service (see peer.go)
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := runMain(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadtest:", err)
		os.Exit(1)
	}
}

// quickScenarios are what -quick runs: the scenarios compared with the floors, whose figures
// issue 20 holds to targets, and no soak, flood or cold mix.
const quickScenarios = "hot-go,hot-id,zipf,redis"

// options are the command line's settings.
type options struct {
	duration, warmup time.Duration
	workers          int
	rounds           int
	coldWorkers      int
	latency          time.Duration
	products, tier1  int
	batch            int
	batchWindow      time.Duration
	soak             time.Duration
	soakRate         int
	mem1m            bool
	perf             bool
	pprof            bool
	out              string
	scenarios        string
	limit            time.Duration
	serviceEnv       []string // KEY=VALUE settings given to every start of the service
	redisQuery       string   // appended to the service's REDIS_URL, e.g. pool_size=4
	peer             string   // a checkout of noquark/wormholes at ca5752c, measured in scenario (d); "" for none
	peerPG           string   // the PostgreSQL URL the peer's database is created through
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("loadtest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "measured length of each throughput scenario, split into -rounds slices of whole seconds (wrk's unit)")
	fs.DurationVar(&o.warmup, "warmup", 2*time.Second, "unmeasured warm-up before each scenario")
	fs.IntVar(&o.workers, "workers", 64, "keep-alive connections (wrk -c) for the floors and every scenario but cold")
	fs.IntVar(&o.rounds, "rounds", 5, "each compared scenario alternates this many slices of the bare floor, the hardened floor and itself (medians are taken)")
	fs.IntVar(&o.coldWorkers, "cold-workers", 800, "connections (wrk -c) in the cold scenario: misses must arrive fast enough to fill batches, yet stay below the service's PLATFORM_MAX_IN_FLIGHT (1000), past which clicks are sent on untagged")
	fs.DurationVar(&o.latency, "latency", 150*time.Millisecond, "latency of the fake platform")
	fs.IntVar(&o.products, "products", 100_000, "cached products in the Zipf and Redis-only scenarios")
	fs.IntVar(&o.tier1, "tier1", 20_000, "CACHE_SIZE (first-tier entries) of the service, below -products")
	fs.IntVar(&o.batch, "batch", 50, "BATCH_SIZE of the service")
	fs.DurationVar(&o.batchWindow, "batch-window", 20*time.Millisecond, "BATCH_WINDOW of the service (its default)")
	fs.DurationVar(&o.soak, "soak", 3*time.Minute, "length of the soak at a fixed rate (0 skips it)")
	fs.IntVar(&o.soakRate, "soak-rate", 2000, "requests per second during the soak")
	fs.BoolVar(&o.mem1m, "mem1m", false, "also measure RSS with 1,000,000 entries in the first tier (about 3 minutes)")
	fs.BoolVar(&o.perf, "perf", false, "profile the whole machine with perf during each throughput scenario's window (not the soak); reports go to "+profilesDir)
	fs.BoolVar(&o.pprof, "pprof", false, "take Go CPU profiles of the service (DEBUG_ADDR) during each throughput scenario's measured slices; they and their merged top functions go to "+profilesDir)
	fs.StringVar(&o.out, "out", "bench/RESULTS.md", "where the markdown report is written (empty: nowhere)")
	fs.StringVar(&o.scenarios, "scenarios", "hot-go,hot-id,bio,zipf,redis,cold,flood-cheap,flood-ua,flood-qr,flood-qr-spread,soak", "comma-separated scenarios to run (baseline always runs)")
	fs.DurationVar(&o.limit, "limit", 30*time.Minute, "the whole run stops after this long, whatever it is doing")
	fs.Func("service-env", "a `KEY=VALUE` setting for the service, over the harness's own (repeatable), to measure another setting", func(v string) error {
		if k, _, ok := strings.Cut(v, "="); !ok || k == "" || k == "REDIS_URL" {
			return errors.New("want KEY=VALUE, and not REDIS_URL (see -redis-query)")
		}
		o.serviceEnv = append(o.serviceEnv, v)
		return nil
	})
	fs.StringVar(&o.redisQuery, "redis-query", "", "query appended to the service's REDIS_URL, to measure the client's options (e.g. pool_size=4&read_timeout=100ms)")
	fs.StringVar(&o.peer, "peer", "", "a `DIR` holding noquark/wormholes at commit ca5752c (git archive ca5752c | tar -x -C DIR): its redirector is built and joins scenario (d)'s rounds on /{id} (needs PostgreSQL and psql)")
	fs.StringVar(&o.peerPG, "peer-pg", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable", "PostgreSQL URL through which the peer's database (peerbench_<pid>, dropped at the end) is created")
	quick := fs.Bool("quick", false, "issue 20's figures alone, in about 4 minutes: -scenarios "+quickScenarios+" -soak 0 -pprof (flags given as well win)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if *quick {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		if !set["scenarios"] {
			o.scenarios = quickScenarios
		}
		if !set["soak"] {
			o.soak = 0
		}
		if !set["pprof"] {
			o.pprof = true
		}
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	var problems []string
	if o.duration <= 0 || o.warmup < 0 {
		problems = append(problems, "-duration must be positive and -warmup not negative")
	}
	if o.workers < 1 || o.coldWorkers < 1 || o.rounds < 1 {
		problems = append(problems, "-workers, -cold-workers and -rounds must be positive")
	}
	if o.products < 2 || o.tier1 < 0 {
		problems = append(problems, "-products must be at least 2 and -tier1 not negative")
	}
	if o.batch < 1 || o.batch > 50 {
		problems = append(problems, "-batch must be from 1 to 50")
	}
	if o.soak < 0 || o.soakRate < 1 {
		problems = append(problems, "-soak must not be negative and -soak-rate must be positive")
	}
	for _, s := range strings.Split(o.scenarios, ",") {
		if s = strings.TrimSpace(s); s != "" && !isScenario(s) {
			problems = append(problems, fmt.Sprintf("unknown scenario %q (known: %s)", s, strings.Join(scenarioNames, ",")))
		}
	}
	if o.peer != "" {
		if !slices.Contains(strings.Split(strings.ReplaceAll(o.scenarios, " ", ""), ","), "redis") {
			problems = append(problems, errNoPeer.Error())
		}
		if err := checkPeerDir(o.peer); err != nil {
			problems = append(problems, err.Error())
		}
		if err := checkPeerPG(o.peerPG); err != nil {
			problems = append(problems, err.Error())
		}
	}
	if len(problems) > 0 {
		return o, errors.New(strings.Join(problems, "; "))
	}
	return o, nil
}

// runMain is the whole program.
func runMain(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	if b, err := os.ReadFile("go.mod"); err != nil || !strings.Contains(string(b), "module github.com/redirector/redirector\n") {
		return errors.New("run from the repository's root (go run ./bench/cmd/loadtest)")
	}
	ctx, cancel := context.WithTimeout(ctx, o.limit)
	defer cancel()
	h := &harness{opts: o, stdout: stdout, stderr: stderr, started: time.Now()}
	defer h.close()
	rep, err := h.run(ctx)
	if err != nil {
		return err
	}
	text := rep.markdown()
	fmt.Fprint(stdout, "\n"+text)
	if o.out != "" {
		if err := os.WriteFile(o.out, []byte(text), 0o644); err != nil {
			return fmt.Errorf("write report: %w", err)
		}
		fmt.Fprintf(stderr, "report written to %s\n", o.out)
	}
	return nil
}
