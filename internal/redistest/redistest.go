// Package redistest starts real redis-server processes on free loopback ports for tests.
package redistest

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Server is one redis-server process owned by a test. Its methods are safe for
// concurrent use.
type Server struct {
	// Addr is host:port of the server; it stays the same across Restart.
	Addr string
	// URL is Addr as a redis:// URL, database 0.
	URL string

	bin  string
	dir  string
	args []string

	mu  sync.Mutex // guards cmd
	cmd *exec.Cmd
}

// Options tune the process; the zero value is an in-memory server.
type Options struct {
	// AppendOnly turns on the append-only file (fsync every write), so Restart keeps the data.
	AppendOnly bool
	// Args are extra redis-server arguments, e.g. "--maxmemory", "10mb".
	Args []string
}

// Binary returns the redis-server to run: $REDIS_SERVER, else the one on PATH.
// It fails the test with a clear message when none can be found: tests never skip for want of Redis.
func Binary(t testing.TB) string {
	t.Helper()
	if b := os.Getenv("REDIS_SERVER"); b != "" {
		return b
	}
	b, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redis-server not found on PATH: the tests need a real Redis; run `make test` (it installs one with apt-get) or `apt-get install redis-server`")
	}
	return b
}

// Start runs a new redis-server on a free 127.0.0.1 port and stops it when the test ends.
func Start(t testing.TB, opts ...Options) *Server {
	t.Helper()
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	s := &Server{bin: Binary(t), dir: t.TempDir()}
	port, err := FreePort()
	if err != nil {
		t.Fatalf("redistest: free port: %v", err)
	}
	s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	s.URL = "redis://" + s.Addr + "/0"
	s.args = []string{
		"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", s.dir,
		"--save", "", "--daemonize", "no", "--logfile", filepath.Join(s.dir, "redis.log"),
		"--protected-mode", "no",
	}
	if o.AppendOnly {
		s.args = append(s.args, "--appendonly", "yes", "--appendfsync", "always")
	} else {
		s.args = append(s.args, "--appendonly", "no")
	}
	s.args = append(s.args, o.Args...)
	if err := s.start(); err != nil {
		t.Fatalf("redistest: %v", err)
	}
	t.Cleanup(s.Stop)
	return s
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (s *Server) start() error {
	cmd := exec.Command(s.bin, s.args...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", s.bin, err)
	}
	s.mu.Lock()
	s.cmd = cmd
	s.mu.Unlock()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if reply, err := s.Do("PING"); err == nil && reply == "PONG" {
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	log, _ := os.ReadFile(filepath.Join(s.dir, "redis.log"))
	s.Stop()
	return fmt.Errorf("redis-server on %s did not answer PING within 10s; log:\n%s", s.Addr, log)
}

// Stop ends the process (SIGTERM, so an append-only file is complete) and waits for it.
func (s *Server) Stop() { s.halt(os.Interrupt) }

// Kill ends the process with SIGKILL, as a crash would.
func (s *Server) Kill() { s.halt(os.Kill) }

func (s *Server) halt(sig os.Signal) {
	s.mu.Lock()
	cmd := s.cmd
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(sig)
	_ = cmd.Process.Signal(syscall.SIGCONT) // a frozen server must run to end
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

// Freeze stops the process with SIGSTOP, as kill -STOP does: it keeps its port and connections, and
// every command sent meanwhile hangs until Thaw (a Redis that stopped answering, not one that is gone).
func (s *Server) Freeze(t testing.TB) { s.signal(t, syscall.SIGSTOP) }

// Thaw lets a frozen process run again (SIGCONT); the commands sent meanwhile are answered.
func (s *Server) Thaw(t testing.TB) { s.signal(t, syscall.SIGCONT) }

func (s *Server) signal(t testing.TB, sig syscall.Signal) {
	t.Helper()
	s.mu.Lock()
	cmd := s.cmd
	s.mu.Unlock()
	if cmd == nil {
		t.Fatalf("redistest: %v: the server is not running", sig)
	}
	if err := cmd.Process.Signal(sig); err != nil {
		t.Fatalf("redistest: %v: %v", sig, err)
	}
}

// Restart stops the server and starts it again on the same port and data directory.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Stop()
	if err := s.start(); err != nil {
		t.Fatalf("redistest: restart: %v", err)
	}
}

// StartAgain starts a stopped or killed server on the same port and data directory.
func (s *Server) StartAgain(t testing.TB) {
	t.Helper()
	if err := s.start(); err != nil {
		t.Fatalf("redistest: start again: %v", err)
	}
}

// Do sends one command over a fresh connection and returns the reply's first line
// without its type prefix. It is for test set-up (PING, FLUSHALL, DEBUG SLEEP, CLIENT PAUSE),
// not for the code under test, which uses its own client.
func (s *Server) Do(args ...string) (string, error) {
	c, err := net.DialTimeout("tcp", s.Addr, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := c.Write([]byte(b.String())); err != nil {
		return "", err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if strings.HasPrefix(line, "-") {
		return "", fmt.Errorf("redis: %s", line[1:])
	}
	if len(line) > 0 {
		line = line[1:]
	}
	return line, nil
}
