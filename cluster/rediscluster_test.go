//go:build cluster

package cluster_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redirector/redirector/internal/redistest"
)

// nodeTimeout is the cluster-node-timeout of the test cluster: a master that does not answer for
// this long is failed over to its replica (within a second or two more).
const nodeTimeout = 2 * time.Second

// redisNode is one redis-server process of the test cluster.
type redisNode struct {
	port, busPort int
	addr          string // 127.0.0.1:port
	dir           string

	mu     sync.Mutex // guards cmd
	cmd    *exec.Cmd
	exited chan struct{} // closed when the process has been waited for
}

// redisCluster is a Redis Cluster of redis-server processes on loopback, owned by one test.
type redisCluster struct {
	cli   string // redis-cli binary
	nodes []*redisNode
}

// redisCLI returns the redis-cli binary, failing the test with a clear message when there is none.
func redisCLI(t *testing.T) string {
	t.Helper()
	if b := os.Getenv("REDIS_CLI"); b != "" {
		return b
	}
	b, err := exec.LookPath("redis-cli")
	if err != nil {
		t.Fatalf("redis-cli not found on PATH: the cluster tests need it to create the cluster; run `make cluster-test` (it installs Redis with apt-get) or `apt-get install redis-tools`")
	}
	return b
}

// startRedisCluster starts six redis-server processes in cluster mode (three masters, one replica
// each) on free loopback ports, joins them with `redis-cli --cluster create` and waits until every
// node reports cluster_state:ok and sees all six. It never uses port 6379. The processes end with
// the test.
func startRedisCluster(t *testing.T) *redisCluster {
	t.Helper()
	c := &redisCluster{cli: redisCLI(t)}
	bin := redistest.Binary(t)
	for i := range 6 {
		n := &redisNode{dir: t.TempDir()}
		var err error
		for attempt := 0; attempt < 3; attempt++ { // a port may be taken between finding and binding it
			if err = n.start(bin); err == nil {
				break
			}
		}
		if err != nil {
			t.Fatalf("start redis node %d: %v", i, err)
		}
		c.nodes = append(c.nodes, n)
		t.Cleanup(n.stop)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, n := range c.nodes {
				t.Logf("redis node %s log (tail):\n%s", n.addr, tail(filepath.Join(n.dir, "redis.log"), 6))
			}
		}
	})

	args := append([]string{"--cluster", "create"}, c.addrs()...)
	args = append(args, "--cluster-replicas", "1", "--cluster-yes")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, c.cli, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	c.waitHealthy(t, c.nodes, 30*time.Second)
	return c
}

// start runs the node's redis-server on fresh free ports and waits for its PING.
func (n *redisNode) start(bin string) error {
	port, err := redistest.FreePort()
	if err != nil {
		return err
	}
	bus, err := redistest.FreePort()
	if err != nil {
		return err
	}
	if port == 6379 || bus == 6379 || port == bus {
		return fmt.Errorf("unlucky ports %d, %d", port, bus)
	}
	n.port, n.busPort = port, bus
	n.addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	cmd := exec.Command(bin,
		"--port", strconv.Itoa(port), "--cluster-port", strconv.Itoa(bus), "--bind", "127.0.0.1",
		"--cluster-enabled", "yes", "--cluster-config-file", filepath.Join(n.dir, "nodes.conf"),
		"--cluster-node-timeout", strconv.Itoa(int(nodeTimeout/time.Millisecond)),
		"--appendonly", "yes", "--dir", n.dir, "--save", "", "--daemonize", "no",
		"--logfile", filepath.Join(n.dir, "redis.log"), "--protected-mode", "no",
	)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", bin, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	n.mu.Lock()
	n.cmd, n.exited = cmd, exited
	n.mu.Unlock()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("redis-server on %s exited at start: %s", n.addr, tail(filepath.Join(n.dir, "redis.log"), 5))
		default:
		}
		if conn, err := net.DialTimeout("tcp", n.addr, 100*time.Millisecond); err == nil {
			conn.Close()
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	n.stop()
	return fmt.Errorf("redis-server on %s did not listen within 10s", n.addr)
}

// stop ends the node with SIGTERM (SIGKILL after 10s) and waits for it; a stopped node is left alone.
func (n *redisNode) stop() { n.halt(os.Interrupt) }

// kill ends the node with SIGKILL, as a crash would, and waits for it.
func (n *redisNode) kill() { n.halt(os.Kill) }

func (n *redisNode) halt(sig os.Signal) {
	n.mu.Lock()
	cmd, exited := n.cmd, n.exited
	n.cmd = nil
	n.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
	}
}

// alive reports whether the node's process runs.
func (n *redisNode) alive() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.cmd != nil
}

// addrs returns the host:port of every node, the seeds the service is given.
func (c *redisCluster) addrs() []string {
	a := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		a[i] = n.addr
	}
	return a
}

// do runs one command with redis-cli against node and returns its raw output, trimmed.
func (c *redisCluster) do(node *redisNode, args ...string) (string, error) {
	return c.doInput(node, "", args...)
}

// doInput is do with stdin, for several commands on one connection (READONLY first, say).
func (c *redisCluster) doInput(node *redisNode, stdin string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.cli, append([]string{"-h", "127.0.0.1", "-p", strconv.Itoa(node.port)}, args...)...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	s := strings.TrimSpace(string(out))
	if err != nil {
		return s, fmt.Errorf("redis-cli -p %d %s: %w: %s", node.port, strings.Join(args, " "), err, stderr.String())
	}
	// redis-cli exits 0 on an error reply; its raw output starts with ERR or another code.
	if strings.HasPrefix(s, "ERR ") || strings.HasPrefix(s, "CLUSTERDOWN") || strings.HasPrefix(s, "MOVED ") {
		return s, fmt.Errorf("redis-cli -p %d %s: %s", node.port, strings.Join(args, " "), s)
	}
	return s, nil
}

// nodeInfo is one line of CLUSTER NODES.
type nodeInfo struct {
	id, addr, masterID string
	master, failed     bool
	slots              [][2]int // inclusive ranges
}

// clusterNodes parses CLUSTER NODES as node sees it.
func (c *redisCluster) clusterNodes(node *redisNode) ([]nodeInfo, error) {
	out, err := c.do(node, "CLUSTER", "NODES")
	if err != nil {
		return nil, err
	}
	var infos []nodeInfo
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 8 {
			continue
		}
		addr, _, _ := strings.Cut(f[1], "@")
		flags := strings.Split(f[2], ",")
		ni := nodeInfo{id: f[0], addr: addr, masterID: f[3]}
		for _, fl := range flags {
			switch fl {
			case "master":
				ni.master = true
			case "fail", "fail?", "handshake", "noaddr":
				ni.failed = true
			}
		}
		for _, r := range f[8:] {
			if strings.HasPrefix(r, "[") { // a slot being migrated
				continue
			}
			lo, hi, isRange := strings.Cut(r, "-")
			if !isRange {
				hi = lo
			}
			a, err1 := strconv.Atoi(lo)
			b, err2 := strconv.Atoi(hi)
			if err1 == nil && err2 == nil {
				ni.slots = append(ni.slots, [2]int{a, b})
			}
		}
		infos = append(infos, ni)
	}
	return infos, nil
}

// waitHealthy waits until every node of live reports cluster_state:ok and sees exactly the
// nodes of live, each healthy: three masters owning all 16384 slots, each with a replica.
func (c *redisCluster) waitHealthy(t *testing.T, live []*redisNode, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var why string
	for {
		why = c.unhealthy(live)
		if why == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("redis cluster not healthy within %v: %s", timeout, why)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// unhealthy says why the cluster, as the nodes of live see it, is not healthy yet; "" when it is.
func (c *redisCluster) unhealthy(live []*redisNode) string {
	want := make(map[string]bool, len(live))
	for _, n := range live {
		want[n.addr] = true
	}
	for _, n := range live {
		info, err := c.do(n, "CLUSTER", "INFO")
		if err != nil {
			return err.Error()
		}
		if !strings.Contains(info, "cluster_state:ok") {
			return n.addr + " reports a cluster_state other than ok"
		}
		infos, err := c.clusterNodes(n)
		if err != nil {
			return err.Error()
		}
		// Every live node is a master that owns slots or the replica of a live master.
		masters := map[string]bool{}
		nodes, slots := 0, 0
		for _, ni := range infos {
			if !want[ni.addr] {
				continue
			}
			if ni.failed {
				return fmt.Sprintf("%s sees %s as failed or joining", n.addr, ni.addr)
			}
			nodes++
			if ni.master && len(ni.slots) > 0 {
				masters[ni.id] = true
				for _, r := range ni.slots {
					slots += r[1] - r[0] + 1
				}
			}
		}
		replicas := 0
		for _, ni := range infos {
			if want[ni.addr] && !ni.master && masters[ni.masterID] {
				replicas++
			}
		}
		if nodes != len(live) || len(masters)+replicas != len(live) || slots != 16384 {
			return fmt.Sprintf("%s sees %d of the %d live nodes: %d masters owning %d slots, %d replicas of them", n.addr, nodes, len(live), len(masters), slots, replicas)
		}
	}
	return ""
}

// owner returns the master that owns the slot of key (as a live node sees it) and its healthy
// replica, nil if it has none (after a failover, until the old master comes back).
func (c *redisCluster) owner(t *testing.T, key string) (master, replica *redisNode) {
	t.Helper()
	slot := c.slot(t, key)
	var from *redisNode
	for _, n := range c.nodes {
		if n.alive() {
			from = n
			break
		}
	}
	infos, err := c.clusterNodes(from)
	if err != nil {
		t.Fatalf("CLUSTER NODES: %v", err)
	}
	var masterID string
	for _, ni := range infos {
		for _, r := range ni.slots {
			if ni.master && r[0] <= slot && slot <= r[1] {
				masterID, master = ni.id, c.node(ni.addr)
			}
		}
	}
	for _, ni := range infos {
		if !ni.master && ni.masterID == masterID && !ni.failed {
			replica = c.node(ni.addr)
		}
	}
	if master == nil {
		t.Fatalf("no master owns slot %d (key %q) in:\n%+v", slot, key, infos)
	}
	return master, replica
}

// slot returns the cluster slot of key (CLUSTER KEYSLOT).
func (c *redisCluster) slot(t *testing.T, key string) int {
	t.Helper()
	for _, n := range c.nodes {
		if !n.alive() {
			continue
		}
		out, err := c.do(n, "CLUSTER", "KEYSLOT", key)
		if err != nil {
			t.Fatalf("CLUSTER KEYSLOT %s: %v", key, err)
		}
		s, err := strconv.Atoi(out)
		if err != nil {
			t.Fatalf("CLUSTER KEYSLOT %s = %q, want a number", key, out)
		}
		return s
	}
	t.Fatalf("no live redis node")
	return 0
}

// node returns the node listening on addr; nil if none.
func (c *redisCluster) node(addr string) *redisNode {
	for _, n := range c.nodes {
		if n.addr == addr {
			return n
		}
	}
	return nil
}

// role returns "master" or "slave" as node reports itself (ROLE).
func (c *redisCluster) role(node *redisNode) string {
	out, err := c.do(node, "ROLE")
	if err != nil {
		return ""
	}
	first, _, _ := strings.Cut(out, "\n")
	return first
}

// tail returns the last n lines of the file at path, or why it cannot.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
