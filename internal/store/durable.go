package store

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// EmbeddedFile is the name of the durable embedded store's file in its directory (DATA_DIR).
const EmbeddedFile = "redirector.db"

// The durable embedded store keeps miniredis as the engine, so every script, Records, Counters and the
// link cache run unchanged, and makes it durable with a go-redis hook on its client: after a write
// command (or a pipeline of them) has run, the hook marks the keys it wrote dirty and waits until a
// commit has copied their current state (type, value, expiry) from miniredis into bbolt and synced the
// file. One goroutine commits: it takes every dirty key, reads them in MULTIs of up to snapshotKeys
// keys (each an atomic snapshot; sorted, the keys that one script wrote for a link fall in one),
// writes them in one bbolt transaction and wakes the writers that waited, so concurrent writers share
// one fsync. A key whose state on disk lags behind memory is always dirty, so the last commit holds
// the newest state.
//
// The file: bucket "keys" maps a Redis key to its value, encoded as 8 bytes of expiry (unix ms, big
// endian, 0 for none) and a JSON diskEntry; bucket "meta" holds the format version. Two keys are not
// kept: the list of live records (rd:v1:links), which grows with every record and would be rewritten
// whole by each Create, is rebuilt at start from the records it lists (score: created), and keys the
// service does not write.
const (
	durableFormat   = "1"
	openLockTimeout = 500 * time.Millisecond
	// lazyFlush bounds how long a link-cache write (fetched again when lost) waits for the disk.
	lazyFlush = time.Second
	// sweepEvery is how often keys that expired are removed from the file (also done at start).
	sweepEvery = 10 * time.Minute
	// snapshotKeys bounds the keys read by one snapshot: its MULTI holds miniredis meanwhile.
	snapshotKeys = 1000
	// lazyPrefix: keys of the affiliate-link cache (internal/cache), which can be fetched again.
	lazyPrefix = "rd:v1:link:"
)

var (
	bucketKeys = []byte("keys")
	bucketMeta = []byte("meta")
	metaFormat = []byte("format")
)

// diskEntry is one key as kept in the file.
type diskEntry struct {
	// Type is Redis's name of the key's type: string, hash, zset, set, list, or hll (miniredis's name
	// for a HyperLogLog).
	Type string `json:"t"`
	// Str is a string's value, or a HyperLogLog's count (see restoreHLL).
	Str string `json:"s,omitempty"`
	// Items are a hash's fields and values, a zset's members and scores (alternating, as HGETALL and
	// ZRANGE WITHSCORES answer), or a set's or list's members.
	Items []string `json:"i,omitempty"`
}

// durable keeps a miniredis's keys in a bbolt file. It is the embedded client's redis.Hook.
type durable struct {
	m    *miniredis.Miniredis
	db   *bolt.DB
	path string
	snap *redis.Client // to m, without the hook: the committer's snapshots

	mu sync.Mutex // guards the fields below
	// dirty are the keys written since the last commit that took them.
	dirty map[string]struct{}
	// flushAll is set by FLUSHALL or FLUSHDB: the next commit empties the file first.
	flushAll bool
	// waiters are the writers waiting for the next commit; each gets its error.
	waiters []chan error
	closed  bool

	wake       chan struct{} // cap 1: a writer waits
	stop, done chan struct{}
}

// openDurable opens (or creates) dir's file, loads every key that has not expired into m, and starts
// the committer. It fails when another process holds the file.
func openDurable(dir string, m *miniredis.Miniredis) (*durable, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("data dir %s: %w", dir, err)
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	path := filepath.Join(abs, EmbeddedFile)
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: openLockTimeout})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("data file %s is locked: another redirector is using DATA_DIR %s (one process per DATA_DIR; stop it or choose another DATA_DIR)", path, abs)
	}
	if err != nil {
		return nil, fmt.Errorf("open data file %s: %w", path, err)
	}
	d := &durable{
		m: m, db: db, path: path,
		dirty: make(map[string]struct{}),
		wake:  make(chan struct{}, 1),
		stop:  make(chan struct{}), done: make(chan struct{}),
	}
	if err := d.load(time.Now()); err != nil {
		_ = db.Close()
		return nil, err
	}
	// RESP2: HGETALL and ZRANGE WITHSCORES answer flat arrays.
	d.snap = redis.NewClient(&redis.Options{Addr: m.Addr(), Protocol: 2})
	go d.commitLoop()
	return d, nil
}

// load checks the file's format and copies every key that has not expired at now into m, dropping
// the expired ones from the file; then it lists the live records.
func (d *durable) load(now time.Time) error {
	var expired [][]byte
	err := d.db.Update(func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		switch f := meta.Get(metaFormat); {
		case f == nil:
			if err := meta.Put(metaFormat, []byte(durableFormat)); err != nil {
				return err
			}
		case string(f) != durableFormat:
			return fmt.Errorf("format %q is not %q, the one this redirector reads (is the file from a newer version?)", f, durableFormat)
		}
		keys, err := tx.CreateBucketIfNotExists(bucketKeys)
		if err != nil {
			return err
		}
		nowMs := now.UnixMilli()
		if err := keys.ForEach(func(k, v []byte) error {
			exp, e, err := decodeEntry(v)
			if err != nil {
				return fmt.Errorf("entry %q: %w", k, err)
			}
			if exp != 0 && exp <= nowMs {
				expired = append(expired, k)
				return nil
			}
			if err := d.restoreKey(string(k), e); err != nil {
				return fmt.Errorf("entry %q: %w", k, err)
			}
			if exp != 0 {
				d.m.SetTTL(string(k), time.Duration(exp-nowMs)*time.Millisecond)
			}
			return nil
		}); err != nil {
			return err
		}
		for _, k := range expired {
			if err := keys.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("load data file %s: %w", d.path, err)
	}
	return nil
}

// restoreKey writes e into m as key k; a live record is also listed.
func (d *durable) restoreKey(k string, e diskEntry) error {
	switch e.Type {
	case "string":
		return d.m.Set(k, e.Str)
	case "hash":
		if len(e.Items)%2 != 0 || len(e.Items) == 0 {
			return errors.New("hash with an odd or zero number of items")
		}
		d.m.HSet(k, e.Items...)
		if id, ok := strings.CutPrefix(k, recordKeyPrefix); ok && strings.HasSuffix(id, recordKeySuffix) {
			return d.listRecord(strings.TrimSuffix(id, recordKeySuffix), e.Items)
		}
		return nil
	case "zset":
		if len(e.Items)%2 != 0 || len(e.Items) == 0 {
			return errors.New("zset with an odd or zero number of items")
		}
		for i := 0; i < len(e.Items); i += 2 {
			score, err := strconv.ParseFloat(e.Items[i+1], 64)
			if err != nil {
				return fmt.Errorf("zset score %q: %w", e.Items[i+1], err)
			}
			if _, err := d.m.ZAdd(k, score, e.Items[i]); err != nil {
				return err
			}
		}
		return nil
	case "set":
		_, err := d.m.SAdd(k, e.Items...)
		return err
	case "list":
		_, err := d.m.Push(k, e.Items...)
		return err
	case "hll":
		return restoreHLL(d.m, k, e.Str)
	}
	return fmt.Errorf("unknown type %q", e.Type)
}

// restoreHLL makes k a HyperLogLog whose count is count. A HyperLogLog's registers cannot be read out
// of miniredis, so the file keeps its count (PFCOUNT) instead, and it is rebuilt by adding that many
// distinct placeholders: its count comes back within the estimate's own error (under 1%), and later
// PFADDs of real members add to it as before. Placeholders carry the key, so that a PFMERGE of two
// restored keys (which the service never does) would not take them for the same members.
func restoreHLL(m *miniredis.Miniredis, k, count string) error {
	n, err := strconv.ParseInt(count, 10, 64)
	if err != nil || n < 0 || n > maxRestoredHLL {
		return fmt.Errorf("hyperloglog count %q is not from 0 to %d", count, maxRestoredHLL)
	}
	const chunk = 1024
	elems := make([]string, 0, chunk)
	for i := int64(0); i < n; i++ {
		elems = append(elems, "restored\x00"+k+"\x00"+strconv.FormatInt(i, 10))
		if len(elems) == chunk || i == n-1 {
			if _, err := m.PfAdd(k, elems...); err != nil {
				return err
			}
			elems = elems[:0]
		}
	}
	return nil
}

// maxRestoredHLL bounds the count a HyperLogLog is rebuilt to: a damaged file must not make the start
// add billions of placeholders. The service's HyperLogLogs count one link's visitors on one day.
const maxRestoredHLL = 100_000_000

// listRecord adds a live record to the list, with its created time as score, as Create does.
func (d *durable) listRecord(id string, fields []string) error {
	var created, target string
	for i := 0; i < len(fields); i += 2 {
		switch fields[i] {
		case fieldDeleted:
			if fields[i+1] == "1" {
				return nil
			}
		case fieldCreated:
			created = fields[i+1]
		case fieldTarget:
			target = fields[i+1]
		}
	}
	if target == "" || checkID(id) != nil {
		return nil // not a record Records wrote: left as it is, unlisted
	}
	ms, err := strconv.ParseInt(created, 10, 64)
	if err != nil {
		return fmt.Errorf("record created %q: %w", created, err)
	}
	_, err = d.m.ZAdd(linkListKey, float64(ms), id)
	return err
}

func encodeEntry(expireMs int64, e diskEntry) ([]byte, error) {
	b, err := json.Marshal(e)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 8, 8+len(b))
	binary.BigEndian.PutUint64(out, uint64(expireMs))
	return append(out, b...), nil
}

func decodeEntry(v []byte) (expireMs int64, e diskEntry, err error) {
	if len(v) < 8 {
		return 0, diskEntry{}, fmt.Errorf("value of %d bytes is too short", len(v))
	}
	exp := binary.BigEndian.Uint64(v)
	if exp > math.MaxInt64 {
		return 0, diskEntry{}, errors.New("expiry out of range")
	}
	if err := json.Unmarshal(v[8:], &e); err != nil {
		return 0, diskEntry{}, fmt.Errorf("unreadable value: %w", err)
	}
	return int64(exp), e, nil
}

// DialHook is the redis.Hook's: connections are not the hook's business.
func (d *durable) DialHook(next redis.DialHook) redis.DialHook { return next }

// ProcessHook makes each write command durable before it returns.
func (d *durable) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		w, err := writeOf(cmd.Args())
		if err != nil {
			cmd.SetErr(err)
			return err
		}
		err = next(ctx, cmd)
		if w.none() || isNoScript(err) {
			return err
		}
		if perr := d.persist(w); perr != nil {
			cmd.SetErr(perr)
			return perr
		}
		return err
	}
}

// ProcessPipelineHook makes a pipeline's (or a MULTI's) writes durable, with one commit, before it returns.
func (d *durable) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		var w written
		for _, cmd := range cmds {
			cw, err := writeOf(cmd.Args())
			if err != nil {
				for _, c := range cmds {
					c.SetErr(err)
				}
				return err
			}
			w.add(cw)
		}
		err := next(ctx, cmds)
		if w.none() {
			return err
		}
		if perr := d.persist(w); perr != nil {
			for _, c := range cmds {
				if c.Err() == nil {
					c.SetErr(perr)
				}
			}
			return perr
		}
		return err
	}
}

// isNoScript reports whether an EVALSHA failed because the script was not loaded, so it ran nothing.
func isNoScript(err error) bool {
	return err != nil && strings.HasPrefix(err.Error(), "NOSCRIPT")
}

// persist marks w's keys dirty and, unless they are all link-cache keys, waits for the commit that
// takes them.
func (d *durable) persist(w written) error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return errors.New("embedded store: closed")
	}
	for _, k := range w.keys {
		d.dirty[k] = struct{}{}
	}
	if w.flushAll {
		d.flushAll = true
	}
	if !w.flushAll && w.lazyOnly() {
		d.mu.Unlock()
		return nil
	}
	ch := make(chan error, 1)
	d.waiters = append(d.waiters, ch)
	d.mu.Unlock()
	select {
	case d.wake <- struct{}{}:
	default:
	}
	return <-ch
}

// commitLoop commits when a writer waits, every lazyFlush for the link cache's keys, and sweeps the
// expired keys every sweepEvery, until stop is closed; then it commits once more.
func (d *durable) commitLoop() {
	defer close(d.done)
	lazy := time.NewTicker(lazyFlush)
	defer lazy.Stop()
	sweep := time.NewTicker(sweepEvery)
	defer sweep.Stop()
	for {
		select {
		case <-d.wake:
		case <-lazy.C:
		case <-sweep.C:
			_ = d.sweep(time.Now()) // a failed sweep is tried again at the next
		case <-d.stop:
			d.mu.Lock()
			d.closed = true
			d.mu.Unlock()
			d.commit()
			return
		}
		d.commit()
	}
}

// commit writes every dirty key's current state to the file and answers the waiters. On failure the
// keys stay dirty, for the next commit, and the waiters get the error.
func (d *durable) commit() {
	d.mu.Lock()
	dirty, waiters, flushAll := d.dirty, d.waiters, d.flushAll
	if len(dirty) == 0 && len(waiters) == 0 && !flushAll {
		d.mu.Unlock()
		return
	}
	d.dirty, d.waiters, d.flushAll = make(map[string]struct{}, len(dirty)), nil, false
	d.mu.Unlock()

	err := d.write(dirty, flushAll)
	if err != nil {
		err = fmt.Errorf("embedded store: write %s: %w", d.path, err)
		d.mu.Lock()
		for k := range dirty {
			d.dirty[k] = struct{}{}
		}
		d.flushAll = d.flushAll || flushAll
		d.mu.Unlock()
	}
	for _, ch := range waiters {
		ch <- err
	}
}

// write copies the keys' current state from miniredis into the file, in one synced transaction.
func (d *durable) write(dirty map[string]struct{}, flushAll bool) error {
	// Sorted, a link's keys ({id} in each) lie side by side, so they fall in one snapshot. A write
	// that lands between two snapshots of one commit reaches the disk in part with it, and whole with
	// the next commit, which its writer waits for.
	keys := slices.Sorted(maps.Keys(dirty))
	states := make([]keyState, 0, len(keys))
	for chunk := range slices.Chunk(keys, snapshotKeys) {
		got, err := d.snapshot(chunk)
		if err != nil {
			return fmt.Errorf("snapshot: %w", err)
		}
		states = append(states, got...)
	}
	now := time.Now().UnixMilli()
	return d.db.Update(func(tx *bolt.Tx) error {
		if flushAll {
			if err := tx.DeleteBucket(bucketKeys); err != nil && !errors.Is(err, bolterrors.ErrBucketNotFound) {
				return err
			}
		}
		b, err := tx.CreateBucketIfNotExists(bucketKeys)
		if err != nil {
			return err
		}
		for i, k := range keys {
			st := states[i]
			if !st.ok {
				if err := b.Delete([]byte(k)); err != nil {
					return err
				}
				continue
			}
			var exp int64
			if st.pttl >= 0 {
				exp = now + max(st.pttl, 1)
			}
			v, err := encodeEntry(exp, st.entry)
			if err != nil {
				return err
			}
			if err := b.Put([]byte(k), v); err != nil {
				return err
			}
		}
		return nil
	})
}

// keyState is a key as a snapshot found it.
type keyState struct {
	ok    bool  // false: the key does not exist
	pttl  int64 // ms; -1: no expiry
	entry diskEntry
}

// snapshot reads keys' types, expiries and values at one instant: one MULTI, which miniredis runs
// under its lock. Each key's type is looked up first, to choose the command that reads it; a key whose
// type changed before the MULTI ran is read again.
func (d *durable) snapshot(keys []string) ([]keyState, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out := make([]keyState, len(keys))
	todo := make([]int, len(keys))
	for i := range keys {
		todo[i] = i
	}
	for range 5 {
		types := make([]string, len(todo))
		for j, i := range todo {
			types[j] = d.m.Type(keys[i])
		}
		cmds, err := d.snap.TxPipelined(ctx, func(p redis.Pipeliner) error {
			for j, i := range todo {
				k := keys[i]
				p.Type(ctx, k)
				p.PTTL(ctx, k)
				switch types[j] {
				case "string":
					p.Do(ctx, "GET", k)
				case "hash":
					p.Do(ctx, "HGETALL", k)
				case "zset":
					p.Do(ctx, "ZRANGE", k, 0, -1, "WITHSCORES")
				case "set":
					p.Do(ctx, "SMEMBERS", k)
				case "list":
					p.Do(ctx, "LRANGE", k, 0, -1)
				case "hll":
					p.Do(ctx, "PFCOUNT", k)
				case "":
				default:
					return fmt.Errorf("key %q: type %q is not kept", k, types[j])
				}
			}
			return nil
		})
		// A command's own error (redis.Nil, or WRONGTYPE for a key that changed type) is looked at
		// below; without replies, the MULTI itself failed.
		if err != nil && len(cmds) == 0 {
			return nil, err
		}
		var again []int
		c := 0
		for j, i := range todo {
			if err := errors.Join(cmds[c].Err(), cmds[c+1].Err()); err != nil {
				return nil, fmt.Errorf("key %q: %w", keys[i], err)
			}
			typ, pttl := cmds[c].(*redis.StatusCmd).Val(), cmds[c+1].(*redis.DurationCmd)
			c += 2
			want := types[j]
			if want == "" {
				want = "none"
			}
			if typ == "none" {
				out[i] = keyState{}
				if want != "none" {
					c++
				}
				continue
			}
			if typ != want {
				again = append(again, i) // changed between the look-up and the MULTI
				if want != "none" {
					c++
				}
				continue
			}
			st := keyState{ok: true, pttl: -1, entry: diskEntry{Type: typ}}
			if ttl := pttl.Val(); ttl >= 0 {
				st.pttl = ttl.Milliseconds()
			}
			v, err := cmds[c].(*redis.Cmd).Result()
			c++
			if err != nil {
				return nil, fmt.Errorf("key %q: %w", keys[i], err)
			}
			switch typ {
			case "string":
				st.entry.Str, _ = v.(string)
			case "hll":
				n, _ := v.(int64)
				st.entry.Str = strconv.FormatInt(n, 10)
			default:
				items, _ := v.([]any)
				st.entry.Items = make([]string, len(items))
				for n, it := range items {
					var isStr bool
					if st.entry.Items[n], isStr = it.(string); !isStr {
						return nil, fmt.Errorf("key %q: %s item of type %T", keys[i], typ, it)
					}
				}
				st.ok = len(items) > 0
			}
			out[i] = st
		}
		if len(again) == 0 {
			return out, nil
		}
		todo = again
	}
	return nil, errors.New("keys keep changing type")
}

// sweep removes the keys that expired by now from the file. miniredis forgets them by itself.
func (d *durable) sweep(now time.Time) error {
	nowMs := now.UnixMilli()
	return d.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketKeys)
		if b == nil {
			return nil
		}
		var expired [][]byte
		if err := b.ForEach(func(k, v []byte) error {
			if len(v) >= 8 {
				if exp := int64(binary.BigEndian.Uint64(v)); exp != 0 && exp <= nowMs {
					expired = append(expired, k)
				}
			}
			return nil
		}); err != nil {
			return err
		}
		for _, k := range expired {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
}

// close commits what is dirty and closes the file. Writes after close fail.
func (d *durable) close() {
	close(d.stop)
	<-d.done
	_ = d.snap.Close()
	_ = d.db.Close()
}
