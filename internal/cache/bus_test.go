package cache_test

import (
	"context"
	"testing"
	"time"

	"github.com/redirector/redirector/internal/cache"
	"github.com/redirector/redirector/internal/redistest"
	"github.com/redirector/redirector/internal/store"
)

// listen starts a bus listener that sends what it hears on the returned channel.
func listen(t *testing.T, bus *cache.Bus) <-chan string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	heard := make(chan string, 16)
	ready := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		bus.Listen(ctx, func(kind, key string) { heard <- kind + ":" + key }, ready)
	}()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case <-ready:
	case <-time.After(5 * time.Second):
		t.Fatal("bus did not subscribe within 5s")
	}
	return heard
}

func expectHeard(t *testing.T, heard <-chan string, want string) {
	t.Helper()
	select {
	case got := <-heard:
		if got != want {
			t.Fatalf("heard %q, want %q", got, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("heard nothing within 5s, want %q", want)
	}
}

func TestBusReachesEveryReplica(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	ctx := context.Background()
	var heard []<-chan string
	var buses []*cache.Bus
	for range 3 {
		rdb, err := store.Connect(ctx, srv.URL, store.ConnectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { rdb.Close() })
		bus := cache.NewBus(rdb, nil)
		buses = append(buses, bus)
		heard = append(heard, listen(t, bus))
	}
	if err := buses[0].Publish(ctx, cache.RecordChanged, "summer-sale"); err != nil {
		t.Fatal(err)
	}
	expectHeard(t, heard[1], "r:summer-sale")
	expectHeard(t, heard[2], "r:summer-sale")
	if err := buses[2].Publish(ctx, cache.LinkChanged, "https://www.aliexpress.com/item/1.html"); err != nil {
		t.Fatal(err)
	}
	// A replica skips its own messages: the first replica 0 hears is replica 2's, not its own.
	expectHeard(t, heard[0], "l:https://www.aliexpress.com/item/1.html")
	expectHeard(t, heard[1], "l:https://www.aliexpress.com/item/1.html")
}

func TestBusResubscribesAfterRedisRestart(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	ctx := context.Background()
	rdb, err := store.Connect(ctx, srv.URL, store.ConnectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rdb.Close() })
	heard := listen(t, cache.NewBus(rdb, nil))
	other, err := store.Connect(ctx, srv.URL, store.ConnectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Close() })
	bus := cache.NewBus(other, nil)

	srv.Restart(t)
	// The listener reconnects by itself; publish until it hears (messages sent while it is
	// reconnecting are lost, which the first tiers' lifetimes bound).
	deadline := time.Now().Add(10 * time.Second)
	for {
		if err := bus.Publish(ctx, cache.RecordChanged, "after-restart"); err == nil {
			select {
			case got := <-heard:
				if got != "r:after-restart" {
					t.Fatalf("heard %q, want r:after-restart", got)
				}
				return
			case <-time.After(200 * time.Millisecond):
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("listener did not hear anything within 10s of Redis restarting")
		}
	}
}
