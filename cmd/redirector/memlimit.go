package main

import (
	"math"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/redirector/redirector/internal/cache"
)

const (
	// memoryBase is the part of the default memory limit that is not the first tier's: the
	// runtime, the connections, the loads in flight and the other caches.
	memoryBase = 64 << 20
	// memoryFloor is the least default memory limit: room for a burst of connections (each
	// holds some 20 KB while it is open) well above what a small first tier needs, so that the
	// limit only binds when the first tier is large.
	memoryFloor = 256 << 20
)

// memoryBudget is the soft memory limit the service sets itself, unless GOMEMLIMIT is set:
// memoryBase plus cache.Tier1EntryBytes for every entry the first tier may hold, and at least
// memoryFloor. The Go collector otherwise lets the heap grow to twice what is live before it
// runs, which, with a large first tier, is hundreds of megabytes held for nothing; near the
// limit it runs as often as it must to stay below it. A first tier of a million entries then
// fits in under 300 MB (bench/RESULTS.md).
func memoryBudget(cacheSize int) int64 {
	return max(memoryFloor, memoryBase+int64(cacheSize)*cache.Tier1EntryBytes)
}

// applyMemoryLimit sets memoryBudget as the runtime's soft memory limit, sized by environ's
// CACHE_SIZE, unless environ sets GOMEMLIMIT (which the runtime has applied already, "off"
// included) or a configuration that cannot be served (which run reports).
func applyMemoryLimit(environ []string) {
	for _, kv := range environ {
		if strings.HasPrefix(kv, "GOMEMLIMIT=") {
			return
		}
	}
	cfg, err := loadConfig(environ, true) // true: the credentials do not size anything
	if err != nil {
		return
	}
	debug.SetMemoryLimit(memoryBudget(cfg.CacheSize))
}

// memoryLimit describes the runtime's soft memory limit, for the startup log.
func memoryLimit() string {
	limit := debug.SetMemoryLimit(-1)
	if limit == math.MaxInt64 {
		return "none"
	}
	return strconv.FormatInt(limit>>20, 10) + " MiB"
}
