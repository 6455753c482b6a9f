// Package mirror keeps a copy of every short-link record, tombstones included, in a local file
// (bbolt), so that a replica still answers its links while the store of record (Redis) does not,
// also right after a restart.
package mirror

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/redirector/redirector/internal/link"
)

// ErrLocked is returned by Open when another process (or another Mirror of this process) has the file
// open: two replicas must not share one DATA_DIR.
var ErrLocked = errors.New("mirror file is in use by another process")

// Source is the store of record the mirror copies; *store.Records is one.
type Source interface {
	// Get returns the record with the id, tombstones included; ok=false when there is none.
	Get(ctx context.Context, id string) (rec link.Record, ok bool, err error)
	// Batches calls fn with every record, by the batch, tombstones included; a record may come twice.
	// The next batch is not read before fn returns.
	Batches(ctx context.Context, fn func([]link.Record) error) error
	// Exist reports, for each id, whether the source has a record with it (a tombstone counts).
	Exist(ctx context.Context, ids []string) ([]bool, error)
}

// Options tune a Mirror. Zero values take the defaults.
type Options struct {
	// Resync is how often the whole store is copied again, to heal changes whose announcement was
	// lost and to drop records that left the store (default 10m).
	Resync time.Duration
	// Pause is how long a full copy rests after each batch it writes, so that it leaves the store and
	// the CPU to the clicks (default 5ms: at most about 100,000 records a second at 500 a batch).
	Pause time.Duration
	// Retry is the first wait before a failed copy or refresh is tried again; it doubles up to
	// Resync or 30s, whichever is shorter (default 1s).
	Retry time.Duration
	// RefreshTimeout bounds the reading of one changed record from the source (default 2s).
	RefreshTimeout time.Duration
	// MaxPending bounds the changed ids waiting to be read; past it, further ones are left to the
	// next full copy (default 100,000).
	MaxPending int
	// Logger gets a line per full copy and a warning per failure (default: discard).
	Logger *slog.Logger
}

// Buckets and meta keys in the file.
var (
	bucketRecords = []byte("records") // id → encoded record (see encode)
	bucketMeta    = []byte("meta")
	keySynced     = []byte("synced") // unix ms of the end of the last full copy that completed; absent: none yet
)

// maxRetry bounds the wait before a failed copy or refresh is tried again, so that a mirror catches
// up soon after Redis is back.
const maxRetry = 30 * time.Second

// lockTimeout is how long Open waits for the file's lock before it reports ErrLocked.
const lockTimeout = 500 * time.Millisecond

// Mirror is the local copy. Record is safe for concurrent use and does not touch the network;
// Changed never blocks. Create it with Open, keep it current with Start, and end it with Close.
type Mirror struct {
	db   *bolt.DB
	path string
	opts Options

	complete atomic.Bool // a full copy has completed, here or in an earlier run on this file

	mu      sync.Mutex          // guards pending, overflow and during
	pending map[string]struct{} // ids announced changed and not yet read from the source
	// overflow is set when an id was refused because pending was full: the next full copy heals it.
	overflow bool
	// during holds the ids a refresh wrote while a full copy runs (nil when none runs): the copy's
	// batch, read earlier, must not put an older version back over them.
	during map[string]struct{}
	wake   chan struct{} // capacity 1: Changed's nudge to the refresher

	stop      context.CancelFunc // nil until Start
	done      sync.WaitGroup     // Start's goroutines
	closeOnce sync.Once
	closeErr  error

	stats struct {
		synced    atomic.Int64 // unix ns of the last completed full copy (0: none in this run)
		records   atomic.Int64 // records written by the last completed full copy
		refreshed atomic.Uint64
		answered  atomic.Uint64
	}
}

// Open opens (or creates) the mirror file at path. It does not touch the source: what the file holds
// from an earlier run answers at once. It returns an error wrapping ErrLocked when the file is open
// elsewhere.
func Open(path string, opts Options) (*Mirror, error) {
	if opts.Resync <= 0 {
		opts.Resync = 10 * time.Minute
	}
	if opts.Pause < 0 {
		opts.Pause = 0
	} else if opts.Pause == 0 {
		opts.Pause = 5 * time.Millisecond
	}
	if opts.Retry <= 0 {
		opts.Retry = time.Second
	}
	if opts.RefreshTimeout <= 0 {
		opts.RefreshTimeout = 2 * time.Second
	}
	if opts.MaxPending <= 0 {
		opts.MaxPending = 100_000
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	// NoFreelistSync: the freelist is rebuilt when the file is opened instead of written on every
	// commit, which halves the writes of a full copy; the file stays consistent after a crash.
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: lockTimeout, NoFreelistSync: true})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("open mirror %s: %w (give each process its own DATA_DIR)", path, ErrLocked)
	}
	if err != nil {
		return nil, fmt.Errorf("open mirror %s: %w", path, err)
	}
	m := &Mirror{db: db, path: path, opts: opts, pending: make(map[string]struct{}), wake: make(chan struct{}, 1)}
	err = db.Update(func(tx *bolt.Tx) error {
		if _, err := tx.CreateBucketIfNotExists(bucketRecords); err != nil {
			return err
		}
		meta, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		m.complete.Store(meta.Get(keySynced) != nil)
		return nil
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open mirror %s: %w", path, err)
	}
	return m, nil
}

// Path is the file's path.
func (m *Mirror) Path() string { return m.path }

// Complete reports whether the copy has been whole once: a full copy completed, in this run or an
// earlier one on this file. Then a record missing from it is missing from the store too, but for one
// made since and whose announcement was lost.
func (m *Mirror) Complete() bool { return m.complete.Load() }

// Record returns the copy of the record id, tombstones included (Deleted set); ok=false when the copy
// has none. The target is as the store held it: check it as outside input before use.
func (m *Mirror) Record(id string) (rec link.Record, ok bool, err error) {
	err = m.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketRecords).Get([]byte(id))
		if v == nil {
			return nil
		}
		var derr error
		if rec, derr = decode(id, v); derr != nil {
			return derr
		}
		ok = true
		return nil
	})
	if err != nil {
		return link.Record{}, false, fmt.Errorf("mirror record %s: %w", id, err)
	}
	if ok {
		m.stats.answered.Add(1)
	}
	return rec, ok, nil
}

// Changed is told that the record id changed (here, or on another replica through the invalidation
// bus): it is read from the source again soon, in the background. It never blocks; after Close, or
// with too many ids waiting, the id is left to the next full copy.
func (m *Mirror) Changed(id string) {
	m.mu.Lock()
	if len(m.pending) >= m.opts.MaxPending {
		m.overflow = true
	} else {
		m.pending[id] = struct{}{}
	}
	m.mu.Unlock()
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// Start keeps the copy current from src until ctx ends or Close is called: a full copy at once and
// every Resync after it (sooner after a failure, and after changes were left to it), and each id told
// to Changed read again as it comes. Call it once.
func (m *Mirror) Start(ctx context.Context, src Source) {
	ctx, m.stop = context.WithCancel(ctx)
	resync := make(chan struct{}, 1)
	m.done.Add(2)
	go func() {
		defer m.done.Done()
		m.resyncLoop(ctx, src, resync)
	}()
	go func() {
		defer m.done.Done()
		m.refreshLoop(ctx, src, resync)
	}()
}

// Close stops Start's goroutines, waits for them and closes the file. It may be called more than once.
func (m *Mirror) Close() error {
	m.closeOnce.Do(func() {
		if m.stop != nil {
			m.stop()
		}
		m.done.Wait()
		m.closeErr = m.db.Close()
	})
	return m.closeErr
}

// Stats is what a Mirror counts, for metrics.
type Stats struct {
	Synced    time.Time // the end of the last full copy in this run; zero: none yet
	Records   int64     // records the last full copy read from the source
	Refreshed uint64    // changed records read again from the source
	Answered  uint64    // lookups Record answered from the copy
}

// Stats returns what the Mirror has counted so far.
func (m *Mirror) Stats() Stats {
	s := Stats{
		Records:   m.stats.records.Load(),
		Refreshed: m.stats.refreshed.Load(),
		Answered:  m.stats.answered.Load(),
	}
	if ns := m.stats.synced.Load(); ns != 0 {
		s.Synced = time.Unix(0, ns)
	}
	return s
}

// resyncLoop runs a full copy at once, then every Resync; after a failure it tries again after Retry,
// doubling up to Resync. A nudge on resync (changes left to the next copy) brings it forward.
func (m *Mirror) resyncLoop(ctx context.Context, src Source, resync <-chan struct{}) {
	wait := m.opts.Retry
	for {
		start := time.Now()
		n, err := m.Sync(ctx, src)
		next := m.opts.Resync
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			m.opts.Logger.Warn("mirror full copy", "path", m.path, "err", err, "retry_in", wait)
			next = wait
			wait = min(2*wait, m.opts.Resync, maxRetry)
		default:
			wait = m.opts.Retry
			m.opts.Logger.Info("mirror full copy", "path", m.path, "records", n, "took", time.Since(start).Round(time.Millisecond))
		}
		t := time.NewTimer(next)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		case <-resync:
			t.Stop()
		}
	}
}

// refreshLoop reads each id told to Changed from src and writes what it finds, in batches.
func (m *Mirror) refreshLoop(ctx context.Context, src Source, resync chan<- struct{}) {
	wait := m.opts.Retry
	for {
		select {
		case <-ctx.Done():
			return
		case <-m.wake:
		}
		for {
			m.mu.Lock()
			ids := make([]string, 0, len(m.pending))
			for id := range m.pending {
				ids = append(ids, id)
				if len(ids) == 500 {
					break
				}
			}
			overflow := m.overflow
			m.overflow = false
			m.mu.Unlock()
			if overflow {
				select {
				case resync <- struct{}{}:
				default:
				}
			}
			if len(ids) == 0 {
				break
			}
			if err := m.refresh(ctx, src, ids); err != nil {
				if ctx.Err() != nil {
					return
				}
				m.opts.Logger.Warn("mirror refresh", "path", m.path, "ids", len(ids), "err", err, "retry_in", wait)
				t := time.NewTimer(wait)
				select {
				case <-ctx.Done():
					t.Stop()
					return
				case <-t.C:
				}
				wait = min(2*wait, m.opts.Resync, maxRetry)
				continue
			}
			wait = m.opts.Retry
		}
	}
}

// refresh reads ids from src and writes them (or drops those src no longer has); the ids leave
// pending once written. On an error nothing leaves pending.
func (m *Mirror) refresh(ctx context.Context, src Source, ids []string) error {
	type got struct {
		rec link.Record
		ok  bool
	}
	recs := make([]got, len(ids))
	for i, id := range ids {
		rctx, cancel := context.WithTimeout(ctx, m.opts.RefreshTimeout)
		rec, ok, err := src.Get(rctx, id)
		cancel()
		if err != nil {
			return err
		}
		recs[i] = got{rec, ok}
	}
	// Marked before the write: a full copy's write transaction that comes after this one sees them.
	m.mu.Lock()
	if m.during != nil {
		for _, id := range ids {
			m.during[id] = struct{}{}
		}
	}
	m.mu.Unlock()
	err := m.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketRecords)
		for i, g := range recs {
			if !g.ok {
				if err := b.Delete([]byte(ids[i])); err != nil {
					return err
				}
				continue
			}
			// Unless a full copy wrote a newer version meanwhile (read after this one).
			if cur := b.Get([]byte(ids[i])); cur != nil {
				if old, err := decode(ids[i], cur); err == nil && old.Updated.After(g.rec.Updated) {
					continue
				}
			}
			if err := b.Put([]byte(ids[i]), encode(g.rec)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("write mirror: %w", err)
	}
	m.mu.Lock()
	for _, id := range ids {
		delete(m.pending, id)
	}
	m.mu.Unlock()
	m.stats.refreshed.Add(uint64(len(ids)))
	return nil
}

// Sync copies every record of src into the mirror, then drops the records src no longer has, and
// returns how many records it read. It reads the source by the batch, each followed by
// Options.Pause, and writes only the records that differ from the copy, about 5,000 a transaction:
// a copy of an unchanged store writes nothing. A record a refresh wrote while it ran keeps the newer
// version (Updated decides); any other record takes the source's, newer or not (a store that went
// back in time, as after a failover that lost writes, is followed). Only a completed copy drops
// anything: one that fails leaves the mirror as it was, plus what it wrote.
func (m *Mirror) Sync(ctx context.Context, src Source) (int, error) {
	m.mu.Lock()
	m.during = make(map[string]struct{})
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		m.during = nil
		m.mu.Unlock()
	}()
	n := 0
	var buf []link.Record
	err := src.Batches(ctx, func(recs []link.Record) error {
		n += len(recs)
		buf = append(buf, recs...)
		if len(buf) >= writeBatch {
			if err := m.write(buf); err != nil {
				return err
			}
			buf = buf[:0]
		}
		if m.opts.Pause > 0 {
			t := time.NewTimer(m.opts.Pause)
			defer t.Stop()
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-t.C:
			}
		}
		return nil
	})
	if err == nil && len(buf) > 0 {
		err = m.write(buf)
	}
	if err == nil {
		err = m.sweep(ctx, src)
	}
	if err != nil {
		return n, fmt.Errorf("mirror sync: %w", err)
	}
	now := time.Now()
	err = m.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(keySynced, binary.BigEndian.AppendUint64(nil, uint64(now.UnixMilli())))
	})
	if err != nil {
		return n, fmt.Errorf("mirror sync: %w", err)
	}
	m.complete.Store(true)
	m.stats.records.Store(int64(n))
	m.stats.synced.Store(now.UnixNano())
	return n, nil
}

// write stores the records of a full copy that differ from the mirror's (see Sync): it finds them
// in a read transaction, so that a batch with nothing new commits nothing.
func (m *Mirror) write(recs []link.Record) error {
	m.mu.Lock()
	during := maps.Clone(m.during)
	m.mu.Unlock()
	var changed []link.Record
	err := m.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketRecords)
		for _, rec := range recs {
			if keep(b, rec, during) {
				continue
			}
			changed = append(changed, rec)
		}
		return nil
	})
	if err != nil || len(changed) == 0 {
		return err
	}
	// Keys in order: neighbours share pages.
	slices.SortFunc(changed, func(a, b link.Record) int { return strings.Compare(a.ID, b.ID) })
	err = m.db.Update(func(tx *bolt.Tx) error {
		// Refreshes are marked before they write, and write transactions run one at a time: every
		// refresh that wrote before this transaction is in during now.
		m.mu.Lock()
		during := maps.Clone(m.during)
		m.mu.Unlock()
		b := tx.Bucket(bucketRecords)
		for _, rec := range changed {
			if keep(b, rec, during) { // a refresh may have come between the transactions
				continue
			}
			if err := b.Put([]byte(rec.ID), encode(rec)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("write mirror: %w", err)
	}
	return nil
}

// keep reports whether the mirror's copy of rec.ID stays as it is in a full copy: it is the same, or
// a refresh during the copy (an id in during) wrote a newer version.
func keep(b *bolt.Bucket, rec link.Record, during map[string]struct{}) bool {
	cur := b.Get([]byte(rec.ID))
	if cur == nil {
		return false
	}
	old, err := decode(rec.ID, cur)
	if err != nil {
		return false
	}
	if old.Target == rec.Target && old.Divert == rec.Divert && old.Channel == rec.Channel && old.Labels == rec.Labels && old.Deleted == rec.Deleted &&
		old.Created.Equal(rec.Created) && old.Updated.Equal(rec.Updated) {
		return true
	}
	_, refreshed := during[rec.ID]
	return refreshed && old.Updated.After(rec.Updated)
}

// writeBatch is about how many records a full copy writes in one transaction.
const writeBatch = 5000

// sweepBatch is how many ids the sweep asks the source about at once.
const sweepBatch = 500

// sweep drops the records the source no longer has, asking it about every id in the mirror,
// sweepBatch at a time.
func (m *Mirror) sweep(ctx context.Context, src Source) error {
	var after []byte // the last key asked about
	for {
		ids := make([]string, 0, sweepBatch)
		err := m.db.View(func(tx *bolt.Tx) error {
			c := tx.Bucket(bucketRecords).Cursor()
			k, _ := c.First()
			if after != nil {
				k, _ = c.Seek(after)
				if k != nil && bytes.Equal(k, after) {
					k, _ = c.Next()
				}
			}
			for ; k != nil && len(ids) < sweepBatch; k, _ = c.Next() {
				ids = append(ids, string(k))
			}
			return nil
		})
		if err != nil || len(ids) == 0 {
			return err
		}
		after = []byte(ids[len(ids)-1])
		exist, err := src.Exist(ctx, ids)
		if err != nil {
			return fmt.Errorf("sweep: %w", err)
		}
		if len(exist) != len(ids) {
			return fmt.Errorf("sweep: %d answers for %d ids", len(exist), len(ids))
		}
		var gone []string
		for i, ok := range exist {
			if !ok {
				gone = append(gone, ids[i])
			}
		}
		if len(gone) > 0 {
			err = m.db.Update(func(tx *bolt.Tx) error {
				b := tx.Bucket(bucketRecords)
				for _, id := range gone {
					if err := b.Delete([]byte(id)); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		if len(ids) < sweepBatch {
			return nil
		}
		if m.opts.Pause > 0 {
			t := time.NewTimer(m.opts.Pause)
			select {
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			case <-t.C:
			}
		}
	}
}

// A record in the file: created and updated (unix ms, 8 bytes each), flags (1 byte: 1 for a
// tombstone), then the target, and, when either is set, a NUL, where the health check diverts clicks
// (link.Record.Divert), a NUL and the channel: a link answered from the mirror goes where it would go
// from Redis, on its own tracking id. Stored targets and diversions are accepted URLs and channels
// tracking ids, none of which holds a NUL. Then, when the record has labels, a NUL and its labels
// (link.Labels.Encode, which holds no NUL: labels have no control character); a record written before
// labels were kept reads as having none.
const headerLen = 17

func encode(rec link.Record) []byte {
	labels := rec.Labels.Encode()
	v := make([]byte, headerLen, headerLen+len(rec.Target)+3+len(rec.Divert)+len(rec.Channel)+len(labels))
	binary.BigEndian.PutUint64(v[0:], uint64(rec.Created.UnixMilli()))
	binary.BigEndian.PutUint64(v[8:], uint64(rec.Updated.UnixMilli()))
	if rec.Deleted {
		v[16] = 1
	}
	v = append(v, rec.Target...)
	if rec.Divert != "" || rec.Channel != "" || labels != "" {
		v = append(v, 0)
		v = append(v, rec.Divert...)
		v = append(v, 0)
		v = append(v, rec.Channel...)
	}
	if labels != "" {
		v = append(v, 0)
		v = append(v, labels...)
	}
	return v
}

func decode(id string, v []byte) (link.Record, error) {
	if len(v) < headerLen {
		return link.Record{}, fmt.Errorf("record of %d bytes", len(v))
	}
	rec := link.Record{
		ID:      id,
		Created: time.UnixMilli(int64(binary.BigEndian.Uint64(v[0:]))).UTC(),
		Updated: time.UnixMilli(int64(binary.BigEndian.Uint64(v[8:]))).UTC(),
		Deleted: v[16] == 1,
	}
	rest := string(v[headerLen:])
	var extra string
	var ok bool
	if rec.Target, extra, ok = strings.Cut(rest, "\x00"); ok {
		if rec.Divert, extra, ok = strings.Cut(extra, "\x00"); !ok {
			return link.Record{}, fmt.Errorf("record %s: a diversion without its channel", id)
		}
		var labels string
		if rec.Channel, labels, ok = strings.Cut(extra, "\x00"); ok {
			rec.Labels = link.ParseLabels(labels)
		}
	}
	return rec, nil
}
