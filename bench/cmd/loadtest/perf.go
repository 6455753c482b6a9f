package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// profilesDir is where -perf leaves its reports (git ignores bench/out).
const profilesDir = "bench/out/profiles"

// perfFrequency is the sampling frequency of perf record, per CPU.
const perfFrequency = 499

// perfName turns a scenario's name into a file name.
func perfName(spec loadSpec) string {
	return strings.NewReplacer(" ", "-", "/", "", "{", "", "}", "").Replace(spec.name)
}

// startPerf samples every CPU of the machine, with call graphs, for spec's measured window. The
// binaries keep their symbols (go build -trimpath does not strip them), so perf names Go functions.
func (h *harness) startPerf(spec loadSpec) (*proc, error) {
	bin, err := exec.LookPath("perf")
	if err != nil {
		return nil, fmt.Errorf("-perf: perf not found on PATH")
	}
	if err := os.MkdirAll(profilesDir, 0o755); err != nil {
		return nil, err
	}
	out := filepath.Join(h.dir, perfName(spec)+".perf.data")
	secs := strconv.FormatFloat(spec.duration.Seconds(), 'f', 3, 64)
	return h.ps.start("perf-"+perfName(spec), h.dir, bin,
		[]string{"record", "-F", strconv.Itoa(perfFrequency), "-g", "-a", "-o", out, "--", "sleep", secs}, nil)
}

// reportPerf waits for the recording to end and writes two reports to profilesDir: the CPU time
// by process, and the service's hottest functions.
func (h *harness) reportPerf(ctx context.Context, p *proc, spec loadSpec) error {
	select {
	case <-p.done:
	case <-time.After(spec.duration + 30*time.Second):
		p.stop()
	case <-ctx.Done():
		return ctx.Err()
	}
	data := filepath.Join(h.dir, perfName(spec)+".perf.data")
	reports := []struct {
		suffix string
		args   []string
	}{
		{"by-process", []string{"report", "-i", data, "--stdio", "--no-children", "--sort", "comm", "-g", "none"}},
		{"service", []string{"report", "-i", data, "--stdio", "--no-children", "--comms", "redirector", "--percentage", "relative", "--sort", "sym", "-g", "none"}},
		{"service-callers", []string{"report", "-i", data, "--stdio", "--children", "--comms", "redirector", "--percentage", "relative", "--sort", "sym", "-g", "none"}},
	}
	for _, r := range reports {
		cmd := exec.CommandContext(ctx, "perf", r.args...)
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("perf report: %w: %s", err, errOut.String())
		}
		lines := strings.SplitAfter(out.String(), "\n")
		if len(lines) > 120 {
			lines = lines[:120]
		}
		path := filepath.Join(profilesDir, perfName(spec)+"-"+r.suffix+".txt")
		if err := os.WriteFile(path, []byte(strings.Join(lines, "")), 0o644); err != nil {
			return err
		}
	}
	h.logf("%s: perf reports in %s/%s-*.txt", spec.name, profilesDir, perfName(spec))
	return nil
}

// takeCPUProfile fetches a Go CPU profile of svc as long as spec's measured window (whole
// seconds, at least one), saves it in profilesDir as the scenario's next slice, and writes the
// top functions of all its slices so far, merged, beside it.
func (h *harness) takeCPUProfile(ctx context.Context, svc *service, spec loadSpec) error {
	secs := max(int(spec.duration/time.Second), 1)
	ctx, cancel := context.WithTimeout(ctx, time.Duration(secs)*time.Second+30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, svc.debug+"/debug/pprof/profile?seconds="+strconv.Itoa(secs), nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("cpu profile: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("cpu profile: status %d", resp.StatusCode)
	}
	if err := os.MkdirAll(profilesDir, 0o755); err != nil {
		return err
	}
	name := perfName(spec)
	if h.profiled == nil {
		h.profiled = map[string][]string{}
	}
	if len(h.profiled[name]) == 0 { // the scenario's first slice: drop an earlier run's
		old, _ := filepath.Glob(filepath.Join(profilesDir, name+"-cpu-*.pprof"))
		for _, f := range old {
			_ = os.Remove(f)
		}
	}
	path := filepath.Join(profilesDir, fmt.Sprintf("%s-cpu-%d.pprof", name, len(h.profiled[name])+1))
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return fmt.Errorf("cpu profile: %w", err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	if len(h.profiled[name]) == 0 {
		h.profileOrder = append(h.profileOrder, name)
	}
	h.profiled[name] = append(h.profiled[name], path)
	slices := h.profiled[name]
	var out bytes.Buffer
	for _, sort := range [][]string{{"-top"}, {"-top", "-cum"}} {
		args := append([]string{"tool", "pprof"}, sort...)
		args = append(args, "-nodecount=40", h.env.bin)
		cmd := exec.CommandContext(ctx, "go", append(args, slices...)...)
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("go tool pprof: %w: %s", err, out.String())
		}
		out.WriteString("\n")
	}
	if h.profileTops == nil {
		h.profileTops = map[string]string{}
	}
	var cum bytes.Buffer
	cmd := exec.CommandContext(ctx, "go", append([]string{"tool", "pprof", "-top", "-cum", "-nodecount=150", h.env.bin}, slices...)...)
	cmd.Stdout, cmd.Stderr = &cum, &cum
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go tool pprof: %w: %s", err, cum.String())
	}
	h.profileTops[name] = spec.name + "\x00" + reportTop(cum.String())
	top := filepath.Join(profilesDir, name+"-cpu-top.txt")
	if err := os.WriteFile(top, out.Bytes(), 0o644); err != nil {
		return err
	}
	h.logf("%s: Go CPU profile of the service, %d slices merged, in %s", spec.name, len(slices), top)
	return nil
}

// profileTopLines is how many of a profile's first functions the report shows, beside the
// landmarks further down.
const profileTopLines = 12

// profileLandmarks are the functions the report shows wherever they rank, so that a profile
// says how much of the service's CPU goes to its own handlers, the Redis client, the clock,
// the collector and the scheduler, beside net/http's reads and writes.
var profileLandmarks = regexp.MustCompile(`(redirector/internal/|go-redis/v9\.\(\*(AutoPipeliner|apShard|baseClient)\)\.|runtime\.(gcBgMarkWorker|gcAssistAlloc|mallocgc|schedule|findRunnable|netpoll)$|time\.Now$|net/http\.\(\*conn\)\.(readRequest|serve)$|net/http\.\(\*response\)\.finishRequest$)`)

// reportTop is the part of pprof's cumulative listing that the report shows: its header, its
// first profileTopLines functions and the landmarks below them, at most 40 lines in all; the
// whole listing is in profilesDir.
func reportTop(out string) string {
	var keep []string
	funcs := 0
	for _, l := range strings.Split(out, "\n") {
		switch {
		case strings.HasPrefix(l, "File:") || strings.HasPrefix(l, "Build ID:") || strings.HasPrefix(l, "Time:") ||
			strings.HasPrefix(l, "Dropped ") || strings.HasPrefix(l, "Showing top") || strings.TrimSpace(l) == "":
			continue
		case !strings.HasPrefix(l, " ") || strings.Contains(l, "flat%"):
			keep = append(keep, l) // the header
			continue
		}
		funcs++
		fields := strings.Fields(l)
		if funcs <= profileTopLines || (len(fields) > 0 && profileLandmarks.MatchString(strings.TrimSuffix(strings.TrimSuffix(fields[len(fields)-1], " (inline)"), " (partial-inline)"))) {
			keep = append(keep, l)
		}
		if len(keep) >= 40 {
			break
		}
	}
	return strings.Join(keep, "\n")
}
