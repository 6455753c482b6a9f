package apikey

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// storeKey is the one Redis key of the API keys: a hash that owns all its fields, so it needs no
// expiry (an admin writes it; revoking a key deletes the key's fields):
//
//	k:<id>          the key's record (JSON of Key: id, name, scopes, hash, created)
//	n:<lower name>  the id of the key of that name; written and deleted with k:<id>
//	u:<id>          when the key was last used (Unix milliseconds); written only while k:<id> exists,
//	                deleted with it
//
// Every lookup reads Redis, nothing is cached in memory: a key revoked on one replica is refused by
// every replica from the next request on.
const storeKey = "rd:v1:apikeys"

// UsedEvery is how often at most a key's last-used time is written.
const UsedEvery = time.Minute

// touchTimeout bounds the write of a last-used time, made off the request's path.
const touchTimeout = 2 * time.Second

var (
	// createScript writes a key unless its name is taken: KEYS[1] the hash; ARGV id, lower-case name, record.
	createScript = redis.NewScript(`
if redis.call('HEXISTS', KEYS[1], 'n:' .. ARGV[2]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'k:' .. ARGV[1], ARGV[3], 'n:' .. ARGV[2], ARGV[1])
return 1`)
	// revokeScript deletes a key's fields: ARGV id, lower-case name.
	revokeScript = redis.NewScript(`
if redis.call('HDEL', KEYS[1], 'k:' .. ARGV[1]) == 0 then return 0 end
if redis.call('HGET', KEYS[1], 'n:' .. ARGV[2]) == ARGV[1] then redis.call('HDEL', KEYS[1], 'n:' .. ARGV[2]) end
redis.call('HDEL', KEYS[1], 'u:' .. ARGV[1])
return 1`)
	// touchScript raises a live key's last-used time: ARGV id, Unix milliseconds.
	touchScript = redis.NewScript(`
if redis.call('HEXISTS', KEYS[1], 'k:' .. ARGV[1]) == 0 then return 0 end
local cur = tonumber(redis.call('HGET', KEYS[1], 'u:' .. ARGV[1]) or '0')
if tonumber(ARGV[2]) > cur then redis.call('HSET', KEYS[1], 'u:' .. ARGV[1], ARGV[2]) end
return 1`)
)

// Store keeps the API keys in Redis (or the embedded store). Safe for concurrent use.
type Store struct {
	rdb    redis.UniversalClient
	logger *slog.Logger

	mu      sync.Mutex           // guards touched
	touched map[string]time.Time // when this process last wrote each key's last-used time
}

// NewStore returns the store of API keys in rdb. logger gets the failures of last-used writes; nil: discard.
func NewStore(rdb redis.UniversalClient, logger *slog.Logger) *Store {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Store{rdb: rdb, logger: logger, touched: make(map[string]time.Time)}
}

// Create makes a key named name with scopes and returns it with the key itself, which is stored
// nowhere: this is the only time anyone sees it. Errors: ErrInvalid (a bad name or scope), ErrExists
// (the name is taken, in any case), or the store's.
func (s *Store) Create(ctx context.Context, name string, scopes []Scope, now time.Time) (Key, string, error) {
	if err := checkName(name); err != nil {
		return Key{}, "", err
	}
	scopes, err := checkScopes(scopes)
	if err != nil {
		return Key{}, "", err
	}
	token, id, hash := newToken()
	k := Key{ID: id, Name: name, Scopes: scopes, Hash: hash, Created: now.UTC().Truncate(time.Millisecond)}
	b, err := json.Marshal(k)
	if err != nil {
		return Key{}, "", err
	}
	ok, err := createScript.Run(ctx, s.rdb, []string{storeKey}, id, strings.ToLower(name), b).Int()
	if err != nil {
		return Key{}, "", fmt.Errorf("create key %s: %w", name, err)
	}
	if ok == 0 {
		return Key{}, "", ErrExists
	}
	return k, token, nil
}

// List returns every key, oldest first, with its last-used time.
func (s *Store) List(ctx context.Context) ([]Key, error) {
	all, err := s.rdb.HGetAll(ctx, storeKey).Result()
	if err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	keys := make([]Key, 0, len(all)/3)
	for f, v := range all {
		id, ok := strings.CutPrefix(f, "k:")
		if !ok {
			continue
		}
		k, err := decode(id, v, all["u:"+id])
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b Key) int {
		if c := a.Created.Compare(b.Created); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return keys, nil
}

// Find returns the key with the id idOrName, or else the key of that name (in any case); ok is false
// when there is none.
func (s *Store) Find(ctx context.Context, idOrName string) (Key, bool, error) {
	if validID(idOrName) {
		if k, ok, err := s.get(ctx, idOrName); err != nil || ok {
			return k, ok, err
		}
	}
	if checkName(idOrName) != nil {
		return Key{}, false, nil
	}
	id, err := s.rdb.HGet(ctx, storeKey, "n:"+strings.ToLower(idOrName)).Result()
	if errors.Is(err, redis.Nil) {
		return Key{}, false, nil
	}
	if err != nil {
		return Key{}, false, fmt.Errorf("find key %s: %w", idOrName, err)
	}
	return s.get(ctx, id)
}

// get reads the key id with its last-used time.
func (s *Store) get(ctx context.Context, id string) (Key, bool, error) {
	vals, err := s.rdb.HMGet(ctx, storeKey, "k:"+id, "u:"+id).Result()
	if err != nil {
		return Key{}, false, fmt.Errorf("read key %s: %w", id, err)
	}
	rec, ok := vals[0].(string)
	if !ok {
		return Key{}, false, nil
	}
	used, _ := vals[1].(string)
	k, err := decode(id, rec, used)
	return k, err == nil, err
}

// decode reads a stored record, checked as if it came from outside.
func decode(id, rec, used string) (Key, error) {
	var k Key
	if err := json.Unmarshal([]byte(rec), &k); err != nil || k.ID != id || len(k.Hash) != 64 {
		return Key{}, fmt.Errorf("key %s: the stored record is malformed", id)
	}
	if ms, err := strconv.ParseInt(used, 10, 64); err == nil && ms > 0 {
		k.LastUsed = time.UnixMilli(ms).UTC()
	}
	return k, nil
}

// Revoke deletes the key id: from the next request on, no replica accepts it. ErrNotFound when no
// key has the id.
func (s *Store) Revoke(ctx context.Context, id string) error {
	if !validID(id) {
		return ErrNotFound
	}
	k, ok, err := s.get(ctx, id)
	if err != nil {
		return err
	}
	if !ok {
		return ErrNotFound
	}
	n, err := revokeScript.Run(ctx, s.rdb, []string{storeKey}, id, strings.ToLower(k.Name)).Int()
	if err != nil {
		return fmt.Errorf("revoke key %s: %w", id, err)
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}

// Authenticate returns the key token is; ok is false for a token that is no live key. The hashes
// are compared in constant time.
func (s *Store) Authenticate(ctx context.Context, token string) (Key, bool, error) {
	id, err := Parse(token)
	if err != nil {
		return Key{}, false, nil
	}
	k, ok, err := s.get(ctx, id)
	if err != nil || !ok {
		return Key{}, false, err
	}
	if subtle.ConstantTimeCompare([]byte(hashOf(token)), []byte(k.Hash)) != 1 {
		return Key{}, false, nil
	}
	return k, true, nil
}

// Used records that the key id was used at now: at most once every UsedEvery per key and process,
// written in the background, so the request that used it does not wait for the write.
func (s *Store) Used(id string, now time.Time) {
	s.mu.Lock()
	if last, ok := s.touched[id]; ok && now.Sub(last) < UsedEvery {
		s.mu.Unlock()
		return
	}
	if len(s.touched) >= 10_000 { // only live keys get here; forget the old marks now and then
		for k, t := range s.touched {
			if now.Sub(t) >= UsedEvery {
				delete(s.touched, k)
			}
		}
	}
	s.touched[id] = now
	s.mu.Unlock()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), touchTimeout)
		defer cancel()
		if err := s.Touch(ctx, id, now); err != nil {
			s.logger.Warn("api key last used", "id", id, "err", err)
		}
	}()
}

// Touch sets the key id's last-used time to at, unless it is later already or the key is gone.
func (s *Store) Touch(ctx context.Context, id string, at time.Time) error {
	if err := touchScript.Run(ctx, s.rdb, []string{storeKey}, id, at.UnixMilli()).Err(); err != nil {
		return fmt.Errorf("touch key %s: %w", id, err)
	}
	return nil
}
