// Command baseline is the load test's yardstick: the least an HTTP redirect can cost on this machine.
// It answers every request with the same 302, Location and Cache-Control as a cached redirect of the
// service, and does nothing else, so the load test can say how close the service comes to it. With
// -hardened its server has the service's timeouts and header limit too (the "hardened floor").
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// Location is the constant redirect target: an affiliate link of the same shape and length as the
// ones the service sends.
const Location = "https://s.click.aliexpress.com/e/_DmBaSeL"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "baseline:", err)
		os.Exit(1)
	}
}

// run serves on -addr until ctx ends.
func run(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("baseline", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8081", "loopback address to listen on")
	hardened := fs.Bool("hardened", false, "serve with the service's timeouts and header limit (cmd/redirector/serve.go)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", *addr, err)
	}
	srv := newServer(*hardened)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("shut down: %w", err)
	}
	return nil
}

// Hardened settings: the values of cmd/redirector/serve.go (readHeaderTimeout, readTimeout,
// idleTimeout, maxHeaderBytes; WriteTimeout is UPSTREAM_TIMEOUT + SHARE_TIMEOUT + 10s there, with
// both at their 2s defaults, which the load test also gives the service).
const (
	hardReadHeaderTimeout = 5 * time.Second
	hardReadTimeout       = 10 * time.Second
	hardWriteTimeout      = 2*time.Second + 2*time.Second + 10*time.Second
	hardIdleTimeout       = 120 * time.Second
	hardMaxHeaderBytes    = 16 << 10
)

// newServer returns the bare server (the yardstick since issue 6: a header timeout and an idle
// timeout, nothing else) or, hardened, one with every limit the service's server has.
func newServer(hardened bool) *http.Server {
	if !hardened {
		return &http.Server{Handler: handler(), ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 120 * time.Second}
	}
	return &http.Server{
		Handler:           handler(),
		ReadHeaderTimeout: hardReadHeaderTimeout,
		ReadTimeout:       hardReadTimeout,
		WriteTimeout:      hardWriteTimeout,
		IdleTimeout:       hardIdleTimeout,
		MaxHeaderBytes:    hardMaxHeaderBytes,
	}
}

// handler answers every request with the constant redirect, as the service's found() does.
func handler() http.Handler {
	loc := []string{Location}
	noStore := []string{"private, no-store, max-age=0"}
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		h := w.Header()
		h["Location"] = loc
		h["Cache-Control"] = noStore
		w.WriteHeader(http.StatusFound)
	})
}
