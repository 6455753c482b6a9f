package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
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
