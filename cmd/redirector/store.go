package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/redis/go-redis/v9"

	"github.com/redirector/redirector/internal/store"
)

// openedStore is the Redis the service keeps its records and counts in, and the one (or none) that
// backs the affiliate-link cache's second tier.
type openedStore struct {
	kind  string                // "redis" or "embedded"
	rdb   redis.UniversalClient // records and counters
	links redis.UniversalClient // link cache's second tier; nil for the embedded store
	close func()
}

// ping reports whether the store answers.
func (s openedStore) ping(ctx context.Context) error { return store.Ping(ctx, s.rdb) }

// openStore connects to the configured Redis (REDIS_URL, a cluster or sentinels), or starts the
// embedded store when none is configured.
func openStore(ctx context.Context, cfg config, logger *slog.Logger) (openedStore, error) {
	if !cfg.usesRedis() {
		rdb, closeFn, err := store.Embedded()
		if err != nil {
			return openedStore{}, fmt.Errorf("start embedded store: %w", err)
		}
		logger.Warn("embedded store: REDIS_URL is empty, so links, records and click counts live in this process only and are NOT kept across restarts")
		return openedStore{kind: "embedded", rdb: rdb, close: closeFn}, nil
	}
	rdb, err := store.Connect(ctx, cfg.RedisURL, store.ConnectOptions{
		ClusterAddrs: cfg.RedisClusterAddrs, SentinelAddrs: cfg.RedisSentinelAddrs, SentinelMaster: cfg.RedisSentinelName,
	})
	if rdb == nil {
		return openedStore{}, &configError{problems: []string{"REDIS_URL: " + err.Error()}}
	}
	if err != nil {
		// Serve anyway: redirects work from the first tier and the platform, and the client reconnects.
		logger.Error("redis not answering at start; serving without it until it does", "err", err)
	}
	return openedStore{kind: "redis", rdb: rdb, links: rdb, close: func() { _ = rdb.Close() }}, nil
}
