package store_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redirector/redirector/internal/clocktest"
	"github.com/redirector/redirector/internal/redistest"
	"github.com/redirector/redirector/internal/store"
)

func TestConnect(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("bad url", func(t *testing.T) {
		for _, u := range []string{"http://localhost:6379", "redis://user:s3cret@host:port:x/0", "redis://h/notadb", "redis://h/0?bogus=1"} {
			rdb, err := store.Connect(ctx, u, store.ConnectOptions{})
			if rdb != nil || err == nil {
				t.Errorf("Connect(%q) = %v, %v, want nil, an error", u, rdb, err)
				continue
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("Connect(%q) error %q shows the password", u, err)
			}
		}
	})

	t.Run("up", func(t *testing.T) {
		srv := redistest.Start(t)
		rdb, err := store.Connect(ctx, srv.URL+"?pool_size=3", store.ConnectOptions{})
		if err != nil {
			t.Fatalf("Connect(%q) = %v", srv.URL, err)
		}
		defer rdb.Close()
		c, ok := rdb.(*redis.Client)
		if !ok {
			t.Fatalf("Connect returned a %T, want a *redis.Client", rdb)
		}
		if n := c.Options().PoolSize; n != 3 {
			t.Errorf("PoolSize = %d, want the URL's 3", n)
		}
		if d := c.Options().ReadTimeout; d != 500*time.Millisecond {
			t.Errorf("ReadTimeout = %v, want the default 500ms", d)
		}
		if err := store.Ping(ctx, rdb); err != nil {
			t.Errorf("Ping = %v", err)
		}
	})

	t.Run("down at start", func(t *testing.T) {
		srv := redistest.Start(t)
		srv.Stop()
		rdb, err := store.Connect(ctx, srv.URL, store.ConnectOptions{DialTimeout: 100 * time.Millisecond})
		if rdb == nil || err == nil {
			t.Fatalf("Connect to a stopped Redis = %v, %v, want a client and the ping's error", rdb, err)
		}
		defer rdb.Close()
		if err := store.Ping(ctx, rdb); err == nil {
			t.Errorf("Ping with Redis down = nil, want an error")
		}
		srv.StartAgain(t)
		clocktest.WaitFor(t, "Ping to succeed", func() bool { return store.Ping(ctx, rdb) == nil })
	})

	t.Run("embedded", func(t *testing.T) {
		if err := store.Ping(ctx, nil); err != nil {
			t.Errorf("Ping(nil) = %v, want nil", err)
		}
	})
}
