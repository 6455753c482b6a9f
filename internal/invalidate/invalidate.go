// Package invalidate tells every replica that a short link or a cached affiliate link changed, so that
// none serves an old copy from its first tier for long.
package invalidate

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// channel is the channel every replica listens on for invalidations.
const channel = "rd:v1:invalidate"

// Kinds of invalidation message, the first field of a message on the channel.
const (
	kindRecord = "r" // a short link was created, retargeted or deleted; the key is its id
	kindLink   = "l" // the affiliate link cached for a page was renewed; the key is the page's cache key
)

// publishTimeout bounds the announcement of a record change, which does not end with the request
// that made it: a client hanging up after a write must not leave other replicas serving the old link.
const publishTimeout = time.Second

// Handlers are what a replica does when it hears of a change. Either may be nil: nothing to do.
type Handlers struct {
	// Record drops what this process holds of the short link id: *shortlink.Lookup's Forget.
	Record func(id string)
	// Link drops the first-tier copy of the affiliate link cached under key: *cache.Links's Forget.
	Link func(key string)
}

// Owner is the one owner of invalidation in a process. Told of a change made here, it runs this
// process's handler when there is something to drop here, and announces the change to the other
// replicas over Redis pub/sub (sharded pub/sub on a Redis Cluster), whose Owners run their handlers
// within moments. A lost announcement (Redis away, or restarting) is bounded by the first tiers' own
// lifetimes. Without Redis (a single process, the embedded store) it only runs the local handlers.
// Safe for concurrent use.
type Owner struct {
	rdb      redis.UniversalClient // nil: no other replicas
	sharded  bool
	origin   string // this process's mark on its messages, so it skips its own
	handlers Handlers
	logger   *slog.Logger

	ready chan struct{} // closed once the first subscription is confirmed (at once without rdb)
	stop  context.CancelFunc
	done  chan struct{} // closed when the listening goroutine has returned
}

// New returns the Owner of this process. With rdb it subscribes at once: it starts the goroutine that
// listens for the other replicas' announcements and runs handlers for each, until ctx ends or Close is
// called. The subscription survives Redis restarts: the client reconnects and subscribes again by
// itself. A nil rdb is a process without replicas: no goroutine, nothing published. logger gets a
// warning for each announcement that could not be sent; nil: discard.
func New(ctx context.Context, rdb redis.UniversalClient, logger *slog.Logger, handlers Handlers) *Owner {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	o := &Owner{rdb: rdb, handlers: handlers, logger: logger, ready: make(chan struct{}), done: make(chan struct{})}
	if rdb == nil {
		close(o.ready)
		close(o.done)
		o.stop = func() {}
		return o
	}
	_, o.sharded = rdb.(*redis.ClusterClient)
	var b [6]byte
	_, _ = rand.Read(b[:])
	o.origin = hex.EncodeToString(b[:])
	ctx, o.stop = context.WithCancel(ctx)
	go func() {
		defer close(o.done)
		o.listen(ctx)
	}()
	return o
}

// RecordChanged is told that the short link id was created, retargeted or deleted here: it runs the
// Record handler in this process at once, then tells the other replicas, with a second at most and
// whether or not ctx ends first.
func (o *Owner) RecordChanged(ctx context.Context, id string) {
	if o.handlers.Record != nil {
		o.handlers.Record(id)
	}
	if o.rdb == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), publishTimeout)
	defer cancel()
	o.publish(ctx, kindRecord, id)
}

// LinkWritten is told that this process wrote a new affiliate link for key (cache.LinkOptions.Written):
// it tells the other replicas, within ctx. Nothing runs here: the writer holds the new link already.
func (o *Owner) LinkWritten(ctx context.Context, key string) {
	if o.rdb == nil {
		return
	}
	o.publish(ctx, kindLink, key)
}

// Ready is closed once the Owner listens: its first subscription is confirmed (at once without Redis).
// Announcements sent before then may not reach it.
func (o *Owner) Ready() <-chan struct{} { return o.ready }

// Close stops listening and returns once the listening goroutine has; it may be called more than
// once. Changes told afterwards are still handled here and announced.
func (o *Owner) Close() {
	o.stop()
	<-o.done
}

// publish announces a change; a lost announcement is bounded by the first tiers' lifetimes.
func (o *Owner) publish(ctx context.Context, kind, key string) {
	msg := kind + ":" + o.origin + ":" + key
	var err error
	if o.sharded {
		err = o.rdb.SPublish(ctx, channel, msg).Err()
	} else {
		err = o.rdb.Publish(ctx, channel, msg).Err()
	}
	if err != nil {
		o.logger.Warn("announce change", "kind", kind, "key", key, "err", err)
	}
}

// listen runs the handlers for every other replica's announcement until ctx ends.
func (o *Owner) listen(ctx context.Context) {
	var sub *redis.PubSub
	if o.sharded {
		sub = o.rdb.SSubscribe(ctx, channel)
	} else {
		sub = o.rdb.Subscribe(ctx, channel)
	}
	// Receive does not return when ctx ends; closing the subscription makes it.
	stop := context.AfterFunc(ctx, func() { _ = sub.Close() })
	defer stop()
	defer sub.Close()
	var once sync.Once
	for ctx.Err() == nil {
		msg, err := sub.Receive(ctx)
		if err != nil {
			if ctx.Err() == nil {
				o.logger.Debug("invalidation bus", "err", err)
				select { // the client is reconnecting
				case <-time.After(100 * time.Millisecond):
				case <-ctx.Done():
				}
			}
			continue
		}
		switch m := msg.(type) {
		case *redis.Subscription:
			once.Do(func() { close(o.ready) })
		case *redis.Message:
			kind, rest, _ := strings.Cut(m.Payload, ":")
			origin, key, ok := strings.Cut(rest, ":")
			if ok && origin != o.origin {
				o.handle(kind, key)
			}
		}
	}
}

// handle runs the handler of kind; an unknown kind (from a newer replica) is ignored.
func (o *Owner) handle(kind, key string) {
	switch {
	case kind == kindRecord && o.handlers.Record != nil:
		o.handlers.Record(key)
	case kind == kindLink && o.handlers.Link != nil:
		o.handlers.Link(key)
	}
}
