package store_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redirector/redirector/internal/redistest"
	"github.com/redirector/redirector/internal/store"
)

// storeBackend is a store the records and counters suites run against: a real redis-server, and the
// embedded store that REDIS_URL="" and -dev use. TestStoreSuitesOnCluster runs them on Redis Cluster too.
type storeBackend struct {
	name string
	open func(t testing.TB) redis.UniversalClient
}

func storeBackends() []storeBackend {
	return []storeBackend{
		{name: "redis-server", open: openRedisServer},
		{name: "embedded", open: openEmbedded},
	}
}

// forEachBackend runs suite as a subtest against a fresh store of each backend. Each store is the
// subtest's own, so the suites run in parallel with each other and with the package's other tests;
// the calling test must be a top-level test that has not called t.Parallel.
func forEachBackend(t *testing.T, suite func(t *testing.T, rdb redis.UniversalClient)) {
	t.Helper()
	t.Parallel()
	for _, b := range storeBackends() {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			suite(t, b.open(t))
		})
	}
}

// openRedisServer starts a redis-server of its own for t and returns a client to it.
func openRedisServer(t testing.TB) redis.UniversalClient {
	t.Helper()
	return clientFor(t, redistest.Start(t))
}

func clientFor(t testing.TB, s *redistest.Server) redis.UniversalClient {
	t.Helper()
	opts, err := redis.ParseURL(s.URL)
	if err != nil {
		t.Fatalf("ParseURL(%q): %v", s.URL, err)
	}
	rdb := redis.NewClient(opts)
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

// embeddedClients holds the clients openEmbedded made, so suites can go easy on the slower store.
var embeddedClients sync.Map // redis.UniversalClient → struct{}

func openEmbedded(t testing.TB) redis.UniversalClient {
	t.Helper()
	rdb, closeFn, err := store.Embedded(t.TempDir())
	if err != nil {
		t.Fatalf("Embedded() error: %v", err)
	}
	embeddedClients.Store(rdb, struct{}{})
	t.Cleanup(func() {
		closeFn()
		embeddedClients.Delete(rdb)
	})
	return rdb
}

func isEmbedded(rdb redis.UniversalClient) bool {
	_, ok := embeddedClients.Load(rdb)
	return ok
}

// flushStore empties the store, on every master of a cluster.
func flushStore(t testing.TB, rdb redis.UniversalClient) {
	t.Helper()
	ctx := context.Background()
	var err error
	if cc, ok := rdb.(*redis.ClusterClient); ok {
		err = cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error { return c.FlushAll(ctx).Err() })
	} else {
		err = rdb.FlushAll(ctx).Err()
	}
	if err != nil {
		t.Fatalf("FLUSHALL: %v", err)
	}
}

// TestStoreSuitesOnCluster runs the records and counters suites on Redis Cluster: one node holding every
// slot, which still refuses commands and scripts whose keys span slots, so the key layout is checked.
// The node is shared by the suites (a cluster node takes seconds to become writable) and emptied
// between them.
func TestStoreSuitesOnCluster(t *testing.T) {
	t.Parallel()
	s := redistest.Start(t, redistest.Options{Args: []string{"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"}})
	if _, err := s.Do("CLUSTER", "ADDSLOTSRANGE", "0", "16383"); err != nil {
		t.Fatalf("CLUSTER ADDSLOTSRANGE: %v", err)
	}
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{s.Addr}})
	defer rdb.Close()
	ctx := context.Background()
	for deadline := time.Now().Add(10 * time.Second); ; {
		info, err := rdb.ClusterInfo(ctx).Result()
		if err == nil && strings.Contains(info, "cluster_state:ok") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("cluster not ready after 10s: %q, %v", info, err)
		}
		time.Sleep(20 * time.Millisecond)
	}

	suites := []struct {
		name  string
		suite func(*testing.T, redis.UniversalClient)
	}{
		{"RecordsCreateGet", recordsCreateGet},
		{"RecordsBadInput", recordsBadInput},
		{"RecordsCreateRace", recordsCreateRace},
		{"RecordsRetarget", recordsRetarget},
		{"RecordsDelete", recordsDelete},
		{"RecordsList", recordsList},
		{"RecordsListEmpty", recordsListEmpty},
		{"RecordsTargetIndex", recordsTargetIndex},
		{"RecordsCreateForTarget", recordsCreateForTarget},
		{"RecordsExportImport", recordsExportImport},
		{"CountersAddClicksStats", countersAddClicksStats},
		{"CountersBadInput", countersBadInput},
	}
	for _, tc := range suites {
		t.Run(tc.name, func(t *testing.T) {
			flushStore(t, rdb)
			tc.suite(t, rdb)
		})
	}
}

func TestEmbedded(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb, closeFn, err := store.Embedded(t.TempDir())
	if err != nil {
		t.Fatalf("Embedded() error: %v", err)
	}
	defer closeFn()

	if got, err := rdb.Ping(ctx).Result(); err != nil || got != "PONG" {
		t.Fatalf("Ping = %q, %v, want PONG", got, err)
	}

	t.Run("keys expire with the clock", func(t *testing.T) {
		// The link cache and the day counters rely on EXPIRE; miniredis alone never counts TTLs down.
		if err := rdb.Set(ctx, "short-lived", "x", 50*time.Millisecond).Err(); err != nil {
			t.Fatalf("Set: %v", err)
		}
		// The TTL runs on the store's own wall clock: real time passing is what is tested.
		deadline := time.Now().Add(5 * time.Second)
		for {
			n, err := rdb.Exists(ctx, "short-lived").Result()
			if err != nil {
				t.Fatalf("Exists: %v", err)
			}
			if n == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("key with a 50ms TTL still exists after 5s")
			}
			time.Sleep(20 * time.Millisecond)
		}
	})

	t.Run("lua scripts run", func(t *testing.T) {
		got, err := rdb.Eval(ctx, "return redis.call('INCRBY', KEYS[1], ARGV[1])", []string{"n"}, 2).Int()
		if err != nil || got != 2 {
			t.Fatalf("Eval INCRBY = %d, %v, want 2", got, err)
		}
	})

	t.Run("each call is its own store", func(t *testing.T) {
		other, closeOther, err := store.Embedded(t.TempDir())
		if err != nil {
			t.Fatalf("Embedded() error: %v", err)
		}
		defer closeOther()
		if n, err := other.Exists(ctx, "n").Result(); err != nil || n != 0 {
			t.Fatalf("second store Exists(n) = %d, %v, want 0", n, err)
		}
	})

	closeFn()
	if err := rdb.Ping(ctx).Err(); err == nil {
		t.Fatalf("Ping after close = nil error, want one")
	}
	closeFn() // a second close is harmless
}
