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
	// gcPercent is the collector's GOGC the service sets itself along with its memory limit: the
	// heap may grow to five times what is live before a collection, not twice. The service's live
	// heap is small beside the limit (tens of MB against at least 256 MiB) and every request
	// allocates, so at Go's 100 the collector ran several times a second under load: 11-14% of the
	// service's CPU on a cached click, 22% on a click read from Redis, against 3-5% at 400 (CPU
	// profiles under wrk, bench/RESULTS.md). The memory limit still bounds the heap: near it the
	// collector runs as often as it must, whatever GOGC says.
	gcPercent = 400
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
// CACHE_SIZE, and gcPercent as its GOGC, unless environ sets GOMEMLIMIT (which the runtime has
// applied already, "off" included) or a configuration that cannot be served (which run reports).
// A GOGC in environ is kept: the runtime has applied it.
func applyMemoryLimit(environ []string) {
	gogc := false
	for _, kv := range environ {
		if strings.HasPrefix(kv, "GOMEMLIMIT=") {
			return
		}
		gogc = gogc || strings.HasPrefix(kv, "GOGC=")
	}
	cfg, err := loadConfig(environ, true) // true: the credentials do not size anything
	if err != nil {
		return
	}
	debug.SetMemoryLimit(memoryBudget(cfg.CacheSize))
	if !gogc {
		// Only with the limit set: without one, five times the live heap of a large first tier
		// would be gigabytes.
		debug.SetGCPercent(gcPercent)
	}
}

// memoryLimit describes the runtime's soft memory limit, for the startup log.
func memoryLimit() string {
	limit := debug.SetMemoryLimit(-1)
	if limit == math.MaxInt64 {
		return "none"
	}
	return strconv.FormatInt(limit>>20, 10) + " MiB"
}
