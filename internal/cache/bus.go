package cache

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// busChannel is the channel every replica listens on for invalidations.
const busChannel = "rd:v1:invalidate"

// Kinds of invalidation message.
const (
	// RecordChanged says a short link was created, retargeted or deleted; the key is its id.
	RecordChanged = "r"
	// LinkChanged says the affiliate link cached for a page was renewed; the key is the page's cache key.
	LinkChanged = "l"
)

// Bus carries invalidations between replicas over Redis pub/sub (sharded pub/sub on a Redis
// Cluster), so that a write on one replica drops the entry from every replica's first tier within
// moments. A lost message is bounded by the first tiers' own lifetimes. Safe for concurrent use.
type Bus struct {
	rdb     redis.UniversalClient
	sharded bool
	origin  string // this process's mark on its messages, so it skips its own
	logger  *slog.Logger
}

// NewBus returns a Bus over rdb.
func NewBus(rdb redis.UniversalClient, logger *slog.Logger) *Bus {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	_, sharded := rdb.(*redis.ClusterClient)
	var b [6]byte
	_, _ = rand.Read(b[:])
	return &Bus{rdb: rdb, sharded: sharded, origin: hex.EncodeToString(b[:]), logger: logger}
}

// Publish tells every other replica that key of kind changed. (The publisher has dropped its
// own copy already; its listener skips its own messages.)
func (b *Bus) Publish(ctx context.Context, kind, key string) error {
	msg := kind + ":" + b.origin + ":" + key
	var err error
	if b.sharded {
		err = b.rdb.SPublish(ctx, busChannel, msg).Err()
	} else {
		err = b.rdb.Publish(ctx, busChannel, msg).Err()
	}
	if err != nil {
		return fmt.Errorf("publish invalidation %s: %w", msg, err)
	}
	return nil
}

// Listen calls handle for every invalidation until ctx ends. The subscription survives Redis
// restarts: the client reconnects and subscribes again by itself. ready, if not nil, is closed
// once the first subscription is confirmed.
func (b *Bus) Listen(ctx context.Context, handle func(kind, key string), ready chan<- struct{}) {
	var sub *redis.PubSub
	if b.sharded {
		sub = b.rdb.SSubscribe(ctx, busChannel)
	} else {
		sub = b.rdb.Subscribe(ctx, busChannel)
	}
	// Receive does not return when ctx ends; closing the subscription makes it.
	stop := context.AfterFunc(ctx, func() { _ = sub.Close() })
	defer stop()
	defer sub.Close()
	for ctx.Err() == nil {
		msg, err := sub.Receive(ctx)
		if err != nil {
			if ctx.Err() == nil {
				b.logger.Debug("invalidation bus", "err", err)
				time.Sleep(100 * time.Millisecond) // the client is reconnecting
			}
			continue
		}
		switch m := msg.(type) {
		case *redis.Subscription:
			if ready != nil {
				close(ready)
				ready = nil
			}
		case *redis.Message:
			kind, rest, _ := strings.Cut(m.Payload, ":")
			origin, key, ok := strings.Cut(rest, ":")
			if ok && origin != b.origin {
				handle(kind, key)
			}
		}
	}
}
