package store_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/redirector/redirector/internal/link"
	"github.com/redirector/redirector/internal/redistest"
	"github.com/redirector/redirector/internal/store"
)

// startSentinel runs a redis-server in sentinel mode watching master as "mymaster".
func startSentinel(t *testing.T, master *redistest.Server) string {
	t.Helper()
	port, err := redistest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	host, mport, _ := net.SplitHostPort(master.Addr)
	dir := t.TempDir()
	conf := filepath.Join(dir, "sentinel.conf")
	body := fmt.Sprintf("port %d\nbind 127.0.0.1\ndir %s\nsentinel monitor mymaster %s %s 1\nsentinel down-after-milliseconds mymaster 1000\n",
		port, dir, host, mport)
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(redistest.Binary(t), conf, "--sentinel", "--logfile", filepath.Join(dir, "sentinel.log"))
	if err := cmd.Start(); err != nil {
		t.Fatalf("start sentinel: %v", err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond); err == nil {
			c.Close()
			return addr
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("sentinel on %s did not listen within 10s", addr)
	return ""
}

// TestConnectThroughSentinel checks the Sentinel topology end to end: the client asks a real
// Sentinel for the master and stores records there.
func TestConnectThroughSentinel(t *testing.T) {
	t.Parallel()
	master := redistest.Start(t)
	sentinel := startSentinel(t, master)
	ctx := context.Background()
	rdb, err := store.Connect(ctx, "", store.ConnectOptions{
		SentinelAddrs: []string{sentinel}, SentinelMaster: "mymaster", PingTimeout: 5 * time.Second,
	})
	if err != nil {
		t.Fatalf("Connect through sentinel %s: %v", sentinel, err)
	}
	t.Cleanup(func() { rdb.Close() })
	records := store.NewRecords(rdb)
	if err := records.Create(ctx, link.Record{ID: "via-sentinel", Target: "https://www.aliexpress.com/store/1"}); err != nil {
		t.Fatalf("Create through sentinel: %v", err)
	}
	// The record is on the master the Sentinel named.
	if got, err := master.Do("HGET", "rd:v1:{via-sentinel}:rec", "target"); err != nil || got == "" {
		t.Errorf("master HGET target = %q, %v; want the record written through the sentinel client", got, err)
	}
}

func TestConnectRefusesSentinelWithoutMaster(t *testing.T) {
	t.Parallel()
	if _, err := store.Connect(context.Background(), "", store.ConnectOptions{SentinelAddrs: []string{"127.0.0.1:1"}}); err == nil {
		t.Error("Connect with sentinels but no master name: err = nil, want an error")
	}
}
