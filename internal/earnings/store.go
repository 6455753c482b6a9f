package earnings

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Keys (see the key layout in internal/store/records.go):
//
//	rd:v1:order:<sub_order_id>  one order (hash: rank, v = JSON); expires Retention after its last write
//	rd:v1:orders                the orders by paid time (sorted set, score unix ms); each member owned by its
//	                            order key: members older than Retention are trimmed at every sync, and readers
//	                            skip members whose order has expired
//	rd:v1:{id}:orders           the orders attributed to the link id (set); owned by the record {id}, trimmed
//	                            with rd:v1:orders
//	rd:v1:orders:sync           the sync's cursor per status and its last success (hash); one key, owned by the sync
//	rd:v1:orders:lease          the replica that syncs (string); expires LeaseTTL after it was last renewed
const (
	orderKeyPrefix = "rd:v1:order:"
	ordersKey      = "rd:v1:orders"
	syncKey        = "rd:v1:orders:sync"
	leaseKey       = "rd:v1:orders:lease"
)

func linkOrdersKey(id string) string { return "rd:v1:{" + id + "}:orders" }

// DefaultRetention is how long an order is kept after its last report.
const DefaultRetention = 400 * 24 * time.Hour

// Store keeps orders in Redis. Safe for concurrent use.
type Store struct {
	rdb       redis.UniversalClient
	retention time.Duration
}

// NewStore returns a Store in rdb keeping orders for retention (DefaultRetention when <= 0).
func NewStore(rdb redis.UniversalClient, retention time.Duration) *Store {
	if retention <= 0 {
		retention = DefaultRetention
	}
	return &Store{rdb: rdb, retention: retention}
}

// putOrderScript writes the order unless the stored one has a higher rank (a later status). It returns 1
// when written, 0 when kept (the same order again only has its expiry renewed). ARGV: rank, JSON, expiry in ms.
var putOrderScript = redis.NewScript(`
local cur = tonumber(redis.call('HGET', KEYS[1], 'rank') or '0')
if cur > tonumber(ARGV[1]) then
  return 0
end
if redis.call('HGET', KEYS[1], 'v') == ARGV[2] then
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  return 0
end
redis.call('HSET', KEYS[1], 'rank', ARGV[1], 'v', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
`)

// Put stores o by its sub-order id: idempotent, and a report of an earlier status than the one stored
// changes nothing. It reports whether o was written: false too when the stored order is the same. The
// index entries are written first, so a failure half-way leaves at most an entry that readers skip, and the next sync writes the order again.
func (s *Store) Put(ctx context.Context, o Order) (bool, error) {
	v, err := json.Marshal(o)
	if err != nil {
		return false, fmt.Errorf("encode order %s: %w", o.SubOrderID, err)
	}
	if err := s.rdb.ZAdd(ctx, ordersKey, redis.Z{Score: float64(o.PaidAt.UnixMilli()), Member: o.SubOrderID}).Err(); err != nil {
		return false, fmt.Errorf("index order %s: %w", o.SubOrderID, err)
	}
	if o.LinkID != "" {
		if err := s.rdb.SAdd(ctx, linkOrdersKey(o.LinkID), o.SubOrderID).Err(); err != nil {
			return false, fmt.Errorf("index order %s of link %s: %w", o.SubOrderID, o.LinkID, err)
		}
	}
	r := rank(o.Status)
	if o.Void {
		r = rank(StatusInvalid) // a refund is final too
	}
	n, err := putOrderScript.Run(ctx, s.rdb, []string{orderKeyPrefix + o.SubOrderID}, r, v, s.retention.Milliseconds()).Int()
	if err != nil {
		return false, fmt.Errorf("put order %s: %w", o.SubOrderID, err)
	}
	return n == 1, nil
}

// Range returns the orders paid within [from, to), in no set order.
func (s *Store) Range(ctx context.Context, from, to time.Time) ([]Order, error) {
	ids, err := s.rdb.ZRangeByScore(ctx, ordersKey, &redis.ZRangeBy{
		Min: strconv.FormatInt(from.UnixMilli(), 10), Max: "(" + strconv.FormatInt(to.UnixMilli(), 10),
	}).Result()
	if err != nil {
		return nil, fmt.Errorf("list orders: %w", err)
	}
	return s.get(ctx, ids)
}

// OfLink returns the orders attributed to the link id.
func (s *Store) OfLink(ctx context.Context, id string) ([]Order, error) {
	ids, err := s.rdb.SMembers(ctx, linkOrdersKey(id)).Result()
	if err != nil {
		return nil, fmt.Errorf("list orders of %s: %w", id, err)
	}
	orders, err := s.get(ctx, ids)
	if err != nil {
		return nil, err
	}
	// An order's attribution is written with the order; a set member left from an older attribution
	// does not count.
	out := orders[:0]
	for _, o := range orders {
		if o.LinkID == id {
			out = append(out, o)
		}
	}
	return out, nil
}

const getChunk = 500

func (s *Store) get(ctx context.Context, ids []string) ([]Order, error) {
	out := make([]Order, 0, len(ids))
	for start := 0; start < len(ids); start += getChunk {
		chunk := ids[start:min(start+getChunk, len(ids))]
		pipe := s.rdb.Pipeline()
		cmds := make([]*redis.StringCmd, len(chunk))
		for i, id := range chunk {
			cmds[i] = pipe.HGet(ctx, orderKeyPrefix+id, "v")
		}
		if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
			return nil, fmt.Errorf("read orders: %w", err)
		}
		for _, c := range cmds {
			v, err := c.Result()
			if errors.Is(err, redis.Nil) {
				continue // expired: its index entry is trimmed by the next sync
			}
			if err != nil {
				return nil, fmt.Errorf("read order: %w", err)
			}
			var o Order
			if err := json.Unmarshal([]byte(v), &o); err != nil || o.SubOrderID == "" {
				continue // not ours: the store is read as outside data
			}
			out = append(out, o)
		}
	}
	return out, nil
}

// trim drops index entries of orders paid before the retention.
func (s *Store) trim(ctx context.Context, now time.Time) error {
	cut := strconv.FormatInt(now.Add(-s.retention).UnixMilli(), 10)
	return s.rdb.ZRemRangeByScore(ctx, ordersKey, "-inf", "("+cut).Err()
}

// syncState is one status's progress: Since is where the next window starts (before the overlap);
// a window in progress (WinEnd set) is resumed from Cursor.
type syncState struct {
	Since    int64  `json:"since,omitempty"` // unix ms
	WinStart int64  `json:"win_start,omitempty"`
	WinEnd   int64  `json:"win_end,omitempty"`
	Cursor   string `json:"cursor,omitempty"`
}

func (s *Store) state(ctx context.Context, status string) (syncState, error) {
	var st syncState
	v, err := s.rdb.HGet(ctx, syncKey, status).Result()
	if errors.Is(err, redis.Nil) {
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("read sync state: %w", err)
	}
	if json.Unmarshal([]byte(v), &st) != nil {
		return syncState{}, nil // unreadable: start over; orders are idempotent
	}
	return st, nil
}

func (s *Store) saveState(ctx context.Context, status string, st syncState) error {
	v, _ := json.Marshal(st)
	if err := s.rdb.HSet(ctx, syncKey, status, v).Err(); err != nil {
		return fmt.Errorf("save sync state: %w", err)
	}
	return nil
}

// LastSync returns the end of the last sync that completed, zero when none has.
func (s *Store) LastSync(ctx context.Context) (time.Time, error) {
	v, err := s.rdb.HGet(ctx, syncKey, "last_success").Int64()
	if errors.Is(err, redis.Nil) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("read last sync: %w", err)
	}
	return time.UnixMilli(v).UTC(), nil
}

// acquire takes or renews the lease for token, for ttl. It reports whether token holds it.
var leaseScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if cur == false then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
if cur == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
`)

var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`)

func (s *Store) lease(ctx context.Context, token string, ttl time.Duration) (bool, error) {
	n, err := leaseScript.Run(ctx, s.rdb, []string{leaseKey}, token, ttl.Milliseconds()).Int()
	if err != nil {
		return false, fmt.Errorf("sync lease: %w", err)
	}
	return n == 1, nil
}

func (s *Store) release(ctx context.Context, token string) {
	_ = releaseScript.Run(ctx, s.rdb, []string{leaseKey}, token).Err()
}
