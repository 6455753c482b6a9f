// Command redirector serves AliExpress affiliate redirects: /go?u=<url> and short links /{id}.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	applyMemoryLimit(os.Environ())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Environ(), os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "redirector:", err)
		var cfgErr *configError
		var usage usageError
		if errors.As(err, &cfgErr) || errors.As(err, &usage) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

// usageError is a command line that cannot be run; main exits with status 2 for it.
type usageError string

func (e usageError) Error() string { return string(e) }

// run is the whole program: it serves until ctx ends (or runs a subcommand) and returns why it stopped.
func run(ctx context.Context, args, environ []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "export":
			return runExport(ctx, args[1:], environ, stdout, stderr)
		case "import":
			return runImport(ctx, args[1:], environ, stdin, stderr)
		case "healthcheck":
			return runHealthcheck(ctx, environ)
		}
	}
	return runServe(ctx, args, environ, stdout, stderr)
}

// runHealthcheck asks the local server's /healthz, for container health checks (the image has no curl).
func runHealthcheck(ctx context.Context, environ []string) error {
	cfg, err := loadConfig(environ, true)
	if err != nil {
		return err
	}
	_, port, err := net.SplitHostPort(cfg.ListenAddr)
	if err != nil {
		return usageError("LISTEN_ADDR: " + err.Error())
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://127.0.0.1:"+port+"/healthz", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: status %d", resp.StatusCode)
	}
	return nil
}
