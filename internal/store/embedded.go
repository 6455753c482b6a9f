package store

import (
	"fmt"
	"sync"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// embeddedTick is how often the embedded store counts its keys' TTLs down: keys expire up to this late.
const embeddedTick = time.Second

// Embedded starts an in-process store that speaks the Redis protocol (miniredis, on a free 127.0.0.1
// port) and returns a client to it and a func that closes both (safe to call more than once). It is what
// the redirector uses when no Redis is configured, and in -dev: one process only. Lua scripts run and
// keys expire with the wall clock (to within a second), so Records, Counters and the link cache behave
// as they do against a Redis server.
//
// With dir "" the store lives in memory and nothing is kept across restarts. Otherwise it is durable:
// every key is kept in one bbolt file in dir (EmbeddedFile, created with dir when missing), read back at
// start, and a write command returns only once what it wrote is on disk (fsync), except the link cache's
// keys, which can be fetched again and reach the disk within a second. A second process that opens the
// same dir gets an error naming the file. See durable.go.
func Embedded(dir string) (redis.UniversalClient, func(), error) {
	m := miniredis.NewMiniRedis()
	if err := m.StartAddr("127.0.0.1:0"); err != nil {
		return nil, nil, fmt.Errorf("start embedded store: %w", err)
	}
	var d *durable
	if dir != "" {
		var err error
		if d, err = openDurable(dir, m); err != nil {
			m.Close()
			return nil, nil, err
		}
	}
	rdb := redis.NewClient(&redis.Options{Addr: m.Addr()})
	if d != nil {
		rdb.AddHook(d)
	}
	stop, done := make(chan struct{}), make(chan struct{})
	go expireEmbedded(m, stop, done)
	var once sync.Once
	closeFn := func() {
		once.Do(func() {
			close(stop)
			<-done
			_ = rdb.Close()
			if d != nil {
				d.close()
			}
			m.Close()
		})
	}
	return rdb, closeFn, nil
}

// expireEmbedded counts m's TTLs down with the clock until stop is closed, then closes done. miniredis,
// made for tests, only counts TTLs down when told to. Its ClockTTL mode would do it on every command,
// but walks and sorts every key each time, which makes each command slower as the store grows; once a
// tick costs the same walk once a second.
func expireEmbedded(m *miniredis.Miniredis, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(embeddedTick)
	defer t.Stop()
	last := time.Now()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			now := time.Now()
			m.FastForward(now.Sub(last))
			last = now
		}
	}
}
