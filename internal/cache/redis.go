package cache

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"runtime"
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
}

// Connect makes a Redis client from redisURL ("redis://[user:pass@]host:port/db", "rediss://…"
// for TLS) and pings it once.
//
// A URL that cannot be parsed returns a nil client and an error that does not repeat the URL (it
// may hold a password). Otherwise the client is always returned, even when the ping fails: the
// error is then the ping's, and the caller should log it and carry on, because the service must
// start and serve while Redis is down; the client reconnects by itself once Redis answers.
//
// The client honours its callers' context deadlines, so Links can bound every call.
func Connect(ctx context.Context, redisURL string, opts ConnectOptions) (redis.UniversalClient, error) {
	o, err := redis.ParseURL(redisURL)
	if err != nil {
		// url.Error's text quotes the whole URL, password included.
		if ue := (*url.Error)(nil); errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("parse redis url: %w", err)
	}
	procs := runtime.GOMAXPROCS(0)
	o.DialTimeout = firstSet(opts.DialTimeout, o.DialTimeout, time.Second)
	o.ReadTimeout = firstSet(opts.ReadTimeout, o.ReadTimeout, 500*time.Millisecond)
	o.WriteTimeout = firstSet(opts.WriteTimeout, o.WriteTimeout, 500*time.Millisecond)
	o.PoolSize = firstSet(opts.PoolSize, o.PoolSize, 10*procs)
	o.MinIdleConns = firstSet(opts.MinIdleConns, o.MinIdleConns, procs)
	o.ContextTimeoutEnabled = true

	rdb := redis.NewClient(o)
	pingTimeout := firstSet(opts.PingTimeout, 0, time.Second)
	ctx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		return rdb, fmt.Errorf("ping redis at %s: %w", o.Addr, err)
	}
	return rdb, nil
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
