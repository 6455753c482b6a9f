package main

import (
	"math"
	"runtime/debug"
	"testing"

	"github.com/redirector/redirector/internal/cache"
)

func TestApplyMemoryLimit(t *testing.T) {
	prev := debug.SetMemoryLimit(-1)
	prevGC := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetMemoryLimit(prev); debug.SetGCPercent(prevGC) })
	for _, tc := range []struct {
		name    string
		environ []string
		want    int64
		wantGC  int
	}{
		{"defaults: the floor", []string{"PATH=/bin"}, memoryFloor, gcPercent},
		{"a million entries", []string{"CACHE_SIZE=1000000"}, memoryBase + 1_000_000*cache.Tier1EntryBytes, gcPercent},
		{"two million entries", []string{"CACHE_SIZE=2000000"}, memoryBase + 2_000_000*cache.Tier1EntryBytes, gcPercent},
		{"no first tier: the floor", []string{"CACHE_SIZE=0"}, memoryFloor, gcPercent},
		{"GOGC kept", []string{"GOGC=150"}, memoryFloor, 100},
		{"GOMEMLIMIT wins", []string{"CACHE_SIZE=1000000", "GOMEMLIMIT=1GiB"}, math.MaxInt64, 100},
		{"GOMEMLIMIT=off wins", []string{"GOMEMLIMIT=off"}, math.MaxInt64, 100},
		{"CACHE_SIZE not a number: run reports it", []string{"CACHE_SIZE=lots"}, math.MaxInt64, 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			debug.SetMemoryLimit(math.MaxInt64) // as the runtime starts without GOMEMLIMIT
			debug.SetGCPercent(100)             // as it starts without GOGC (or with one it applied)
			applyMemoryLimit(tc.environ)
			if got := debug.SetMemoryLimit(-1); got != tc.want {
				t.Errorf("memory limit %d, want %d", got, tc.want)
			}
			if got := debug.SetGCPercent(100); got != tc.wantGC {
				t.Errorf("GOGC %d, want %d", got, tc.wantGC)
			}
		})
	}
	// The limit the memory target is measured with: a million entries under 300 MB.
	if got := memoryBudget(1_000_000); got >= 300_000_000 {
		t.Errorf("memoryBudget(1,000,000) = %d, not under 300 MB", got)
	}
}
