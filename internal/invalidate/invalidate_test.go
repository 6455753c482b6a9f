package invalidate_test

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/redirector/redirector/internal/clocktest"
	"github.com/redirector/redirector/internal/invalidate"
	"github.com/redirector/redirector/internal/redistest"
	"github.com/redirector/redirector/internal/store"
)

// start returns an Owner over a client of srv, listening, whose handlers send what they are told on the
// returned channel ("r:id" or "l:key"); Close runs when the test ends.
func start(t *testing.T, srv *redistest.Server) (*invalidate.Owner, <-chan string) {
	t.Helper()
	ctx := context.Background()
	rdb, err := store.Connect(ctx, srv.URL, store.ConnectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rdb.Close() })
	heard := make(chan string, 16)
	o := invalidate.New(ctx, rdb, nil, invalidate.Handlers{
		Record: func(id string) { heard <- "r:" + id },
		Link:   func(key string) { heard <- "l:" + key },
	})
	t.Cleanup(o.Close)
	select {
	case <-o.Ready():
	case <-time.After(5 * time.Second):
		t.Fatal("owner did not subscribe within 5s")
	}
	return o, heard
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

func TestOwnerReachesEveryReplica(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	var heard []<-chan string
	var owners []*invalidate.Owner
	for range 3 {
		o, h := start(t, srv)
		owners, heard = append(owners, o), append(heard, h)
	}
	owners[0].RecordChanged(ctx, "summer-sale")
	expectHeard(t, heard[0], "r:summer-sale") // at once, in the process that made the change
	expectHeard(t, heard[1], "r:summer-sale")
	expectHeard(t, heard[2], "r:summer-sale")
	owners[2].LinkWritten(ctx, "https://www.aliexpress.com/item/1.html")
	// A replica skips its own messages: the next thing replica 0 hears is replica 2's link, not its
	// own record change a second time; and replica 2, which wrote the link, is told nothing.
	expectHeard(t, heard[0], "l:https://www.aliexpress.com/item/1.html")
	expectHeard(t, heard[1], "l:https://www.aliexpress.com/item/1.html")
	owners[1].LinkWritten(ctx, "https://www.aliexpress.com/item/2.html")
	expectHeard(t, heard[2], "l:https://www.aliexpress.com/item/2.html")
}

func TestOwnerResubscribesAfterRedisRestart(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	_, heard := start(t, srv)
	other, _ := start(t, srv)

	srv.Restart(t)
	// The listener reconnects by itself; announce until it hears (messages sent while it is
	// reconnecting are lost, which the first tiers' lifetimes bound).
	deadline := time.Now().Add(10 * time.Second)
	for {
		other.LinkWritten(ctx, "after-restart")
		select {
		case got := <-heard:
			if got != "l:after-restart" {
				t.Fatalf("heard %q, want l:after-restart", got)
			}
			return
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("listener did not hear anything within 10s of Redis restarting")
		}
	}
}

// TestOwnerWithoutRedis: a process without replicas runs its own handlers and nothing else.
func TestOwnerWithoutRedis(t *testing.T) {
	var heard []string
	o := invalidate.New(context.Background(), nil, nil, invalidate.Handlers{
		Record: func(id string) { heard = append(heard, "r:"+id) },
		Link:   func(key string) { heard = append(heard, "l:"+key) },
	})
	select {
	case <-o.Ready():
	default:
		t.Fatal("Ready is not closed without Redis")
	}
	o.RecordChanged(context.Background(), "lamp")
	o.LinkWritten(context.Background(), "https://www.aliexpress.com/item/1.html")
	o.Close()
	if len(heard) != 1 || heard[0] != "r:lamp" {
		t.Errorf("handlers ran for %q, want [r:lamp] (the writer of a link holds it already)", heard)
	}
}

// TestOwnerCloseWaits: Close returns only once the listening goroutine has: not while a handler runs,
// although the subscription is gone by then.
func TestOwnerCloseWaits(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	rdb, err := store.Connect(ctx, srv.URL, store.ConnectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rdb.Close() })
	entered, release := make(chan struct{}), make(chan struct{})
	o := invalidate.New(ctx, rdb, nil, invalidate.Handlers{Record: func(string) {
		close(entered)
		<-release
	}})
	<-o.Ready()
	other, _ := start(t, srv)
	other.RecordChanged(ctx, "held")
	select {
	case <-entered:
	case <-time.After(5 * time.Second):
		t.Fatal("handler not called within 5s")
	}
	closed := make(chan struct{})
	go func() { o.Close(); close(closed) }()
	// Wait until Close has cancelled: the subscription is closed and only other's is left.
	waitSubscribers(t, srv, 1)
	select {
	case <-closed:
		t.Fatal("Close returned while the listener was still running a handler")
	default:
	}
	close(release)
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return within 5s of the handler returning")
	}
}

// waitSubscribers waits until n clients listen on the invalidation channel of srv.
func waitSubscribers(t *testing.T, srv *redistest.Server, n int) {
	t.Helper()
	var got string
	var err error
	clocktest.WaitFor(t, fmt.Sprintf("%d subscribers of rd:v1:invalidate", n), func() bool {
		// PUBSUB NUMSUB inside a script gives a plain integer.
		got, err = srv.Do("EVAL", "return redis.call('PUBSUB','NUMSUB',KEYS[1])[2]", "1", "rd:v1:invalidate")
		return err == nil && got == strconv.Itoa(n)
	})
}
