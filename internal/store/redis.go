package store

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"runtime"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// ConnectOptions tune the Redis client made by Connect. A zero field takes the default named on
// it, unless the URL's query sets it (e.g. "?dial_timeout=2s&pool_size=50"); a non-zero field wins
// over both.
type ConnectOptions struct {
	DialTimeout  time.Duration // default 1s
	ReadTimeout  time.Duration // default 500ms
	WriteTimeout time.Duration // default 500ms
	PoolSize     int           // connections; default 10 per GOMAXPROCS
	MinIdleConns int           // connections kept open while idle; default GOMAXPROCS
	PingTimeout  time.Duration // bounds Connect's first ping; default 1s

	// ClusterAddrs, when set, make a Redis Cluster client seeded with these host:port
	// addresses; the URL, if any, then gives only the credentials and TLS.
	ClusterAddrs []string
	// SentinelAddrs and SentinelMaster, when set, make a client that finds the master named
	// SentinelMaster through these Sentinels and follows failovers; the URL, if any, gives the
	// master's credentials, database and TLS.
	SentinelAddrs  []string
	SentinelMaster string
}

// Connect makes a Redis client from redisURL ("redis://[user:pass@]host:port/db", "rediss://…"
// for TLS) and pings it once.
//
// A URL that cannot be parsed returns a nil client and an error that does not repeat the URL (it
// may hold a password). Otherwise the client is always returned, even when the ping fails: the
// error is then the ping's, and the caller should log it and carry on, because the service must
// start and serve while Redis is down; the client reconnects by itself once Redis answers.
//
// The client honours its callers' context deadlines, so cache.Links can bound every call.
func Connect(ctx context.Context, redisURL string, opts ConnectOptions) (redis.UniversalClient, error) {
	base := &redis.Options{}
	if redisURL != "" || (len(opts.ClusterAddrs) == 0 && len(opts.SentinelAddrs) == 0) {
		var err error
		if base, err = parseURL(redisURL); err != nil {
			return nil, err
		}
	}
	procs := runtime.GOMAXPROCS(0)
	dial := firstSet(opts.DialTimeout, base.DialTimeout, time.Second)
	read := firstSet(opts.ReadTimeout, base.ReadTimeout, 500*time.Millisecond)
	write := firstSet(opts.WriteTimeout, base.WriteTimeout, 500*time.Millisecond)
	pool := firstSet(opts.PoolSize, base.PoolSize, 10*procs)
	idle := firstSet(opts.MinIdleConns, base.MinIdleConns, procs)

	var rdb redis.UniversalClient
	var addr string
	switch {
	case len(opts.ClusterAddrs) > 0:
		rdb = redis.NewClusterClient(&redis.ClusterOptions{
			Addrs: opts.ClusterAddrs, Username: base.Username, Password: base.Password, TLSConfig: base.TLSConfig,
			DialTimeout: dial, ReadTimeout: read, WriteTimeout: write, PoolSize: pool, MinIdleConns: idle,
			ContextTimeoutEnabled: true,
			// A killed master answers no MOVED, only refused connections: without a frequent
			// reload the client keeps sending its slots to the dead address for up to a minute
			// after a replica has taken over.
			ClusterStateReloadInterval: time.Second,
		})
		addr = "cluster " + strings.Join(opts.ClusterAddrs, ",")
	case len(opts.SentinelAddrs) > 0:
		if opts.SentinelMaster == "" {
			return nil, errors.New("a sentinel setup needs the master's name")
		}
		rdb = redis.NewFailoverClient(&redis.FailoverOptions{
			MasterName: opts.SentinelMaster, SentinelAddrs: opts.SentinelAddrs,
			Username: base.Username, Password: base.Password, DB: base.DB, TLSConfig: base.TLSConfig,
			DialTimeout: dial, ReadTimeout: read, WriteTimeout: write, PoolSize: pool, MinIdleConns: idle,
			ContextTimeoutEnabled: true,
		})
		addr = "sentinel master " + opts.SentinelMaster
	default:
		base.DialTimeout, base.ReadTimeout, base.WriteTimeout = dial, read, write
		base.PoolSize, base.MinIdleConns = pool, idle
		base.ContextTimeoutEnabled = true
		rdb = redis.NewClient(base)
		addr = base.Addr
	}
	pingTimeout := firstSet(opts.PingTimeout, 0, time.Second)
	ctx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		return rdb, fmt.Errorf("ping redis at %s: %w", addr, err)
	}
	return rdb, nil
}

// parseURL reads a redis:// or rediss:// URL. Its error does not repeat the URL, which may hold
// a password.
func parseURL(redisURL string) (*redis.Options, error) {
	o, err := redis.ParseURL(redisURL)
	if err != nil {
		// url.Error's text quotes the whole URL, password included.
		if ue := (*url.Error)(nil); errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("parse redis url: %w", err)
	}
	return o, nil
}

// firstSet returns the first non-zero of its arguments.
func firstSet[T comparable](v ...T) T {
	var zero T
	for _, x := range v {
		if x != zero {
			return x
		}
	}
	return zero
}

// Ping reports whether Redis answers, within ctx's deadline and at most a second. A nil rdb (the
// embedded mode, which has no Redis to wait for) always answers.
func Ping(ctx context.Context, rdb redis.UniversalClient) error {
	if rdb == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("ping redis: %w", err)
	}
	return nil
}
