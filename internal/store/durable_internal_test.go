package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// DurableKeys returns the keys held in the embedded store's file at path, read while the store may be
// open (a read-only look at the last commit).
func DurableKeys(t testing.TB, path string) map[string]bool {
	t.Helper()
	db := openCopy(t, path)
	keys := map[string]bool{}
	if err := db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketKeys).ForEach(func(k, _ []byte) error {
			keys[string(k)] = true
			return nil
		})
	}); err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return keys
}

// editFile runs fn on the closed store's file at path.
func editFile(t *testing.T, path string, fn func(tx *bolt.Tx) error) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	defer db.Close()
	if err := db.Update(fn); err != nil {
		t.Fatalf("edit %s: %v", path, err)
	}
}

func TestDurableExpiredKeysLeaveTheFile(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, EmbeddedFile)
	rdb, closeFn, err := Embedded(dir)
	if err != nil {
		t.Fatalf("Embedded: %v", err)
	}
	for _, k := range []string{"gone-at-start", "gone-by-sweep", "stays"} {
		if err := rdb.Set(ctx, k, "v", time.Hour).Err(); err != nil {
			t.Fatalf("SET %s: %v", k, err)
		}
	}
	closeFn()
	// Age one entry past its expiry, as an hour spent stopped would.
	editFile(t, path, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketKeys)
		v := append([]byte(nil), b.Get([]byte("gone-at-start"))...)
		binary.BigEndian.PutUint64(v, uint64(time.Now().Add(-time.Second).UnixMilli()))
		return b.Put([]byte("gone-at-start"), v)
	})
	rdb, closeFn, err = Embedded(dir)
	if err != nil {
		t.Fatalf("Embedded again: %v", err)
	}
	defer closeFn()
	if n, err := rdb.Exists(ctx, "gone-at-start", "stays").Result(); err != nil || n != 1 {
		t.Fatalf("after a restart past one key's expiry, EXISTS of it and a live one = %d, %v; want 1", n, err)
	}
	if keys := DurableKeys(t, path); keys["gone-at-start"] || !keys["stays"] {
		t.Errorf("file after the start holds %v; want the expired key dropped, the live one kept", keys)
	}
	// The sweep, run as if two hours had passed, drops what expired in memory meanwhile.
	d := openCopyDurable(t, path)
	if err := d.sweep(time.Now().Add(2 * time.Hour)); err != nil {
		t.Fatalf("sweep: %v", err)
	}
	if n := countKeys(t, d.db); n != 0 {
		t.Errorf("after a sweep two hours on, the file holds %d keys, want 0", n)
	}
}

func TestDurableDamagedFile(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		edit func(tx *bolt.Tx) error
		want string
	}{
		{"unreadable value", func(tx *bolt.Tx) error {
			return tx.Bucket(bucketKeys).Put([]byte("bad"), append(make([]byte, 8), "{not json"...))
		}, `entry "bad": unreadable value`},
		{"short value", func(tx *bolt.Tx) error {
			return tx.Bucket(bucketKeys).Put([]byte("bad"), []byte{1, 2})
		}, `entry "bad": value of 2 bytes is too short`},
		{"unknown type", func(tx *bolt.Tx) error {
			return tx.Bucket(bucketKeys).Put([]byte("bad"), append(make([]byte, 8), `{"t":"stream"}`...))
		}, `entry "bad": unknown type "stream"`},
		{"odd hash", func(tx *bolt.Tx) error {
			return tx.Bucket(bucketKeys).Put([]byte("bad"), append(make([]byte, 8), `{"t":"hash","i":["a"]}`...))
		}, `entry "bad": hash with an odd`},
		{"newer format", func(tx *bolt.Tx) error {
			return tx.Bucket(bucketMeta).Put(metaFormat, []byte("2"))
		}, `format "2" is not "1"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			path := filepath.Join(dir, EmbeddedFile)
			_, closeFn, err := Embedded(dir)
			if err != nil {
				t.Fatalf("Embedded: %v", err)
			}
			closeFn()
			editFile(t, path, tc.edit)
			_, closeFn, err = Embedded(dir)
			if err == nil {
				closeFn()
				t.Fatalf("Embedded on a file with %s: err = nil, want one", tc.name)
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
				t.Errorf("Embedded on a file with %s: err = %q, want it to say %q and name %s", tc.name, err, tc.want, path)
			}
		})
	}
}

// openCopy opens a copy of the bbolt file at path, so that it can be read while its store holds it:
// bbolt's lock (flock) would make a second open in this process wait. A copy taken between commits
// is what a kill -9 would leave.
func openCopy(t testing.TB, path string) *bolt.DB {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	cp := filepath.Join(t.TempDir(), "copy.db")
	if err := os.WriteFile(cp, b, 0o600); err != nil {
		t.Fatalf("copy %s: %v", path, err)
	}
	db, err := bolt.Open(cp, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatalf("open a copy of %s: %v", path, err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// openCopyDurable is a durable over the file at path with no miniredis: enough for sweep.
func openCopyDurable(t *testing.T, path string) *durable {
	t.Helper()
	return &durable{db: openCopy(t, path), path: path}
}

func countKeys(t *testing.T, db *bolt.DB) int {
	t.Helper()
	n := 0
	if err := db.View(func(tx *bolt.Tx) error {
		n = tx.Bucket(bucketKeys).Stats().KeyN
		return nil
	}); err != nil {
		t.Fatalf("count keys: %v", err)
	}
	return n
}

// BenchmarkEmbeddedOpen100k is the start of a store holding 100,000 records, each with its target
// index entry, its totals and one day's counts (400,000 keys): the time to read the file into memory
// and list the records. The file is written directly, in the store's format (writing it through the
// store takes minutes: miniredis answers some 20,000 commands a second). It reports the file's size
// per record.
func BenchmarkEmbeddedOpen100k(b *testing.B) {
	const n = 100_000
	dir := b.TempDir()
	path := filepath.Join(dir, EmbeddedFile)
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	day := now.UTC().Format("20060102")
	dayExpiry := now.Add(90 * 24 * time.Hour).UnixMilli()
	err = db.Update(func(tx *bolt.Tx) error {
		meta, _ := tx.CreateBucketIfNotExists(bucketMeta)
		if err := meta.Put(metaFormat, []byte(durableFormat)); err != nil {
			return err
		}
		keys, _ := tx.CreateBucketIfNotExists(bucketKeys)
		entries := make(map[string][]byte, 4*n)
		put := func(k string, exp int64, e diskEntry) error {
			v, err := encodeEntry(exp, e)
			entries[k] = v
			return err
		}
		// Put in key order, as bbolt writes fastest; the store's own commits put theirs sorted too.
		defer func() {
			for _, k := range slices.Sorted(maps.Keys(entries)) {
				if err := keys.Put([]byte(k), entries[k]); err != nil {
					b.Fatal(err)
				}
			}
		}()
		for i := range n {
			id := fmt.Sprintf("r%07d", i)
			ms := strconv.FormatInt(now.UnixMilli()+int64(i), 10)
			target := fmt.Sprintf("https://www.aliexpress.com/item/10050%011d.html", i)
			if err := errors.Join(
				put(recordKey(id), 0, diskEntry{Type: "hash", Items: []string{"target", target, "created", ms, "updated", ms}}),
				put(targetIndexKey(target), 0, diskEntry{Type: "string", Str: id}),
				put(counterKey(id), 0, diskEntry{Type: "hash", Items: []string{"clicks", "12", "scans", "3"}}),
				put(dayKey(id, day), dayExpiry, diskEntry{Type: "hash", Items: []string{"clicks", "12", "scans", "3"}}),
			); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	_ = db.Close()
	fi, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	var cpu time.Duration
	for b.Loop() {
		before := processCPU(b)
		rdb, closeFn, err := Embedded(dir)
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		cpu += processCPU(b) - before
		if got, err := rdb.ZCard(context.Background(), linkListKey).Result(); err != nil || got != n {
			b.Fatalf("after opening, %d records listed (%v), want %d", got, err, n)
		}
		closeFn()
		b.StartTimer()
	}
	b.ReportMetric(float64(fi.Size())/n, "file-bytes/record")
	// On a shared machine the wall time is mostly waiting for a core; the CPU time is the work.
	b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s/op")
}

// processCPU is the CPU time (user and system) the process has used so far.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
