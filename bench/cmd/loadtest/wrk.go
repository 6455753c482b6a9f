package main

import (
	"bufio"
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The throughput scenarios are driven by wrk (written in C, one thread: -t1), which leaves the
// servers the CPU that vegeta, in the harness's process, used to take. Its Lua scripts are embedded:
// common.lua (the User-Agent, and a done() printing one JSON line) goes before each scenario's own.
//
//go:embed lua/*.lua
var luaScripts embed.FS

// wrkConns is wrk's number of keep-alive connections when a spec does not say.
const wrkConns = 64

// genSaturated is the generator's CPU share (of its one thread's core) from which a slice is
// flagged: the generator, not the server, may have set its pace.
const genSaturated = 0.95

// clockTick is the unit of utime and stime in /proc/<pid>/stat (USER_HZ, 100 on Linux).
const clockTick = 10 * time.Millisecond

// wrkSpec is one run of wrk.
type wrkSpec struct {
	url      string   // scheme, host and the path of the static request (scripts may override the path)
	script   string   // the scenario's script in lua/ ("" for the static request alone)
	args     []string // the script's arguments (init(args))
	conns    int      // keep-alive connections; 0: wrkConns
	duration time.Duration
	server   int  // the pid whose CPU is measured over the run
	tree     bool // measure the CPU of server and all its descendants (the peer's prefork children)
}

// wrkResult is what wrk's done() reported, with the CPU times measured around it.
type wrkResult struct {
	DurationUS float64 `json:"duration_us"`
	Requests   int     `json:"requests"`
	Bytes      int64   `json:"bytes"`
	Connect    int     `json:"connect"`
	Read       int     `json:"read"`
	Write      int     `json:"write"`
	Status     int     `json:"status"` // answers other than 2xx and 3xx
	Timeout    int     `json:"timeout"`
	P50US      float64 `json:"p50_us"`
	P99US      float64 `json:"p99_us"`
	P999US     float64 `json:"p999_us"`
	MaxUS      float64 `json:"max_us"`

	wall   time.Duration // wrk's life, start to exit
	genCPU time.Duration // wrk's own user and system time
	svcCPU time.Duration // the server's user and system time over wrk's life
}

// rps returns the requests per second wrk completed.
func (r wrkResult) rps() float64 {
	if r.DurationUS <= 0 {
		return 0
	}
	return float64(r.Requests) / (r.DurationUS / 1e6)
}

// errors returns the socket errors and the answers other than 2xx and 3xx.
func (r wrkResult) errors() int { return r.Connect + r.Read + r.Write + r.Timeout + r.Status }

// genShare returns the generator's CPU over its wall time: 1.0 is its one thread's core, full.
func (r wrkResult) genShare() float64 {
	if r.wall <= 0 {
		return math.NaN()
	}
	return r.genCPU.Seconds() / r.wall.Seconds()
}

// cpuPerRequest returns the server's CPU per request, in µs.
func (r wrkResult) cpuPerRequest() float64 {
	if r.Requests == 0 {
		return math.NaN()
	}
	return float64(r.svcCPU.Microseconds()) / float64(r.Requests)
}

// measurement returns r as the table of the vegeta scenarios shows it.
func (r wrkResult) measurement() measurement {
	m := measurement{
		window: time.Duration(r.DurationUS) * time.Microsecond, requests: r.Requests, errors: r.errors(),
		pcts: map[float64]time.Duration{0.5: us(r.P50US), 0.99: us(r.P99US), 0.999: us(r.P999US)},
	}
	if n := r.errors(); n > 0 {
		m.errSample = []string{fmt.Sprintf("%d socket errors, %d answers not 2xx or 3xx", n-r.Status, r.Status)}
	}
	return m
}

// us returns v µs as a duration.
func us(v float64) time.Duration { return time.Duration(v * float64(time.Microsecond)) }

// wrkMarker starts the line common.lua's done() prints.
const wrkMarker = "WRK_JSON "

// parseWrk finds done()'s JSON line in wrk's output.
func parseWrk(out []byte) (wrkResult, error) {
	var r wrkResult
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if line, ok := strings.CutPrefix(sc.Text(), wrkMarker); ok {
			if err := json.Unmarshal([]byte(line), &r); err != nil {
				return r, fmt.Errorf("wrk's summary %q: %w", line, err)
			}
			if r.DurationUS <= 0 {
				return r, fmt.Errorf("wrk's summary %q: no duration", line)
			}
			return r, nil
		}
	}
	return r, fmt.Errorf("no %q line in wrk's output:\n%s", strings.TrimSpace(wrkMarker), tailOf(string(out), 10))
}

// tailOf returns the last n lines of s.
func tailOf(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// wrkArgs returns wrk's command line for spec, the script at scriptPath.
func wrkArgs(spec wrkSpec, scriptPath string) []string {
	conns := spec.conns
	if conns == 0 {
		conns = wrkConns
	}
	secs := max(int(spec.duration.Round(time.Second)/time.Second), 1) // wrk's -d counts in seconds
	args := []string{"-t1", "-c" + strconv.Itoa(conns), "-d" + strconv.Itoa(secs) + "s", "--timeout", "10s", "--latency", "-s", scriptPath, spec.url}
	if len(spec.args) > 0 {
		args = append(append(args, "--"), spec.args...)
	}
	return args
}

// script returns common.lua followed by the scenario's script.
func script(name string) ([]byte, error) {
	common, err := luaScripts.ReadFile("lua/common.lua")
	if err != nil {
		return nil, err
	}
	if name == "" {
		return common, nil
	}
	own, err := luaScripts.ReadFile("lua/" + name + ".lua")
	if err != nil {
		return nil, err
	}
	return append(append(common, '\n'), own...), nil
}

// wrkBinary returns the wrk to run: $WRK, else the one on PATH.
func wrkBinary() (string, error) {
	if b := os.Getenv("WRK"); b != "" {
		return b, nil
	}
	b, err := exec.LookPath("wrk")
	if err != nil {
		return "", errors.New("wrk not found on PATH (make bench installs it: scripts/ensure-wrk.sh; or apt-get install wrk, or set WRK)")
	}
	return b, nil
}

// runWrk runs wrk for spec, with its scripts written in dir, and measures its CPU and the server's.
func runWrk(ctx context.Context, dir string, spec wrkSpec) (wrkResult, error) {
	bin, err := wrkBinary()
	if err != nil {
		return wrkResult{}, err
	}
	text, err := script(spec.script)
	if err != nil {
		return wrkResult{}, err
	}
	name := spec.script
	if name == "" {
		name = "static"
	}
	path := filepath.Join(dir, "wrk-"+name+".lua")
	if err := os.WriteFile(path, text, 0o644); err != nil {
		return wrkResult{}, err
	}
	cmd := exec.CommandContext(ctx, bin, wrkArgs(spec, path)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cpu0, err := serverCPU(spec)
	if err != nil {
		return wrkResult{}, err
	}
	began := time.Now()
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return wrkResult{}, ctx.Err()
		}
		return wrkResult{}, fmt.Errorf("wrk %s: %w\n%s", strings.Join(cmd.Args[1:], " "), err, tailOf(out.String(), 10))
	}
	wall := time.Since(began)
	cpu1, err := serverCPU(spec)
	if err != nil {
		return wrkResult{}, err
	}
	r, err := parseWrk(out.Bytes())
	if err != nil {
		return r, err
	}
	r.wall, r.svcCPU = wall, cpu1-cpu0
	r.genCPU = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	return r, nil
}

// serverCPU returns the CPU time spec's server has used so far: with spec.tree, summed over it
// and its descendants.
func serverCPU(spec wrkSpec) (time.Duration, error) {
	if spec.tree {
		cpu, _, err := procTreeCPU(spec.server)
		return cpu, err
	}
	return procCPU(spec.server)
}

// procCPU returns the user and system time process pid has used so far.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	return parseStatCPU(string(b))
}

// parseStatCPU reads utime and stime (fields 14 and 15) of a /proc/<pid>/stat line. The command
// name, field 2, is in parentheses and may hold spaces and parentheses itself, so fields are
// counted from the last ')'.
func parseStatCPU(stat string) (time.Duration, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("stat %q: no command name", stat)
	}
	f := strings.Fields(stat[i+1:]) // f[0] is field 3, the state
	if len(f) < 13 {
		return 0, fmt.Errorf("stat %q: too few fields", stat)
	}
	var ticks int64
	for _, s := range f[11:13] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("stat %q: %w", stat, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * clockTick, nil
}

// side is one server's slices in a comparison, one a round.
type side []wrkResult

// median returns the median of f over the slices.
func (s side) median(f func(wrkResult) float64) float64 {
	v := make([]float64, 0, len(s))
	for _, r := range s {
		v = append(v, f(r))
	}
	return median(v)
}

// median returns the median of v (the mean of the middle two when even); NaN when empty.
func median(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	v = slices.Clone(v)
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

func (s side) rps() float64       { return s.median(wrkResult.rps) }
func (s side) p50() float64       { return s.median(func(r wrkResult) float64 { return r.P50US }) }
func (s side) p99() float64       { return s.median(func(r wrkResult) float64 { return r.P99US }) }
func (s side) cpuPerReq() float64 { return s.median(wrkResult.cpuPerRequest) }
func (s side) genShare() float64  { return s.median(wrkResult.genShare) }
func (s side) maxGenShare() float64 {
	m := 0.0
	for _, r := range s {
		m = max(m, r.genShare())
	}
	return m
}

// saturated counts the slices in which the generator used genSaturated of its core or more.
func (s side) saturated() int {
	n := 0
	for _, r := range s {
		if r.genShare() >= genSaturated {
			n++
		}
	}
	return n
}

func (s side) requests() int {
	n := 0
	for _, r := range s {
		n += r.Requests
	}
	return n
}

func (s side) errors() int {
	n := 0
	for _, r := range s {
		n += r.errors()
	}
	return n
}

// ratio returns the median over the rounds of f(x's slice) / f(y's slice): each round's two slices
// ran one after the other, so the load of the moment weighs on both.
func ratio(x, y side, f func(wrkResult) float64) float64 {
	var v []float64
	for i := range min(len(x), len(y)) {
		if d := f(y[i]); d > 0 {
			v = append(v, f(x[i])/d)
		}
	}
	return median(v)
}

// comparison is a scenario measured in rounds alternating with both floors.
type comparison struct {
	key, name  string
	bare, hard side // the floors: bare net/http, and with the service's timeouts and header limit
	svc        side
	peer       side // -peer: the peer, in the same rounds (scenario (d) only)
}

func rpsOf(r wrkResult) float64 { return r.rps() }
func p99Of(r wrkResult) float64 { return r.P99US }
func cpuOf(r wrkResult) float64 { return r.cpuPerRequest() }
