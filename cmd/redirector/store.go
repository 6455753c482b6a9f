package main

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/redis/go-redis/v9"

	"github.com/redirector/redirector/internal/store"
)

// openedStore is the Redis the service keeps its records and counts in, and the one (or none) that
// backs the affiliate-link cache's second tier.
type openedStore struct {
	kind  string                // "redis" or "embedded"
	rdb   redis.UniversalClient // records and counters
	links redis.UniversalClient // link cache's second tier (the embedded store's own one process)
	close func()
}

// ping reports whether the store answers.
func (s openedStore) ping(ctx context.Context) error { return store.Ping(ctx, s.rdb) }

// openStore connects to the configured Redis (REDIS_URL, a cluster or sentinels), or opens the
// durable embedded store in DATA_DIR when none is configured.
func openStore(ctx context.Context, cfg config, logger *slog.Logger) (openedStore, error) {
	if !cfg.usesRedis() {
		rdb, closeFn, err := store.Embedded(cfg.DataDir)
		if err != nil {
			return openedStore{}, fmt.Errorf("embedded store: %w", err)
		}
		logger.Info("embedded store: REDIS_URL is empty, so records, click counts and the link cache are kept on disk in one file, for this process alone",
			"path", dataFile(cfg.DataDir))
		return openedStore{kind: "embedded", rdb: rdb, links: rdb, close: closeFn}, nil
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

// dataFile is the absolute path of the embedded store's file in dir.
func dataFile(dir string) string {
	abs, err := filepath.Abs(dir)
	if err != nil {
		abs = dir
	}
	return filepath.Join(abs, store.EmbeddedFile)
}
