// Command redirector serves AliExpress affiliate redirects: /go?u=<url> and short links /{id}.
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
	"strings"
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

// commands are the subcommands, in the order help lists them; a first argument that is none of
// them is a flag of the server.
var commands = []struct{ name, args, summary string }{
	{"", "[-dev]", "serve redirects and the admin API (configuration from the environment; see README.md)"},
	{"export", "[-from URL] > links.jsonl", "write every record, deleted ones included, with its click totals, to stdout as JSON Lines (from REDIS_URL, or the embedded store in DATA_DIR)"},
	{"import", "< links.jsonl | --csv links.csv", "read records as JSON Lines from stdin into the store (REDIS_URL, or DATA_DIR); the newer updated_at wins, totals are raised to the file's. --csv: create the links of a CSV file (url, slug, label, channel, fallback_url), all rows checked first"},
	{"healthcheck", "", "ask the local server's /healthz; exit status 0 when it answers 200 (for container health checks)"},
	{"help", "", "print this list"},
}

// writeCommands writes the usage line of every command with its summary.
func writeCommands(w io.Writer) {
	fmt.Fprintln(w, "usage:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-44s %s\n", commandLine(c.name, c.args), c.summary)
	}
}

// commandLine is how a command is typed.
func commandLine(name, args string) string {
	return strings.Join(strings.Fields("redirector "+name+" "+args), " ")
}

// newFlagSet returns the flag set of a command: -h and -help print usage (what the command does, then
// its flags) to stderr, and the command exits 0.
func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("redirector "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		if name == "" {
			writeCommands(stderr)
		}
		for _, c := range commands {
			if c.name == name && name != "" {
				fmt.Fprintf(stderr, "usage: %s\n\n%s\n", commandLine(c.name, c.args), c.summary)
			}
		}
		var flags bool
		fs.VisitAll(func(*flag.Flag) { flags = true })
		if flags {
			fmt.Fprintln(stderr, "\nflags:")
			fs.PrintDefaults()
		}
	}
	return fs
}

// parseFlags parses args with fs. help is true when -h or -help asked for the usage, which fs has
// printed; a command then returns nil at once.
func parseFlags(fs *flag.FlagSet, args []string) (help bool, err error) {
	err = fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		return true, nil
	}
	if err != nil {
		return false, usageError(err.Error())
	}
	return false, nil
}

// run is the whole program: it serves until ctx ends (or runs a subcommand) and returns why it stopped.
func run(ctx context.Context, args, environ []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "export":
			return runExport(ctx, args[1:], environ, stdout, stderr)
		case "import":
			return runImport(ctx, args[1:], environ, stdin, stderr)
		case "healthcheck":
			return runHealthcheck(ctx, args[1:], environ, stderr)
		case "help":
			writeCommands(stdout)
			return nil
		}
	}
	return runServe(ctx, args, environ, stdout, stderr)
}

// runHealthcheck asks the local server's /healthz, for container health checks (the image has no curl).
func runHealthcheck(ctx context.Context, args, environ []string, stderr io.Writer) error {
	fs := newFlagSet("healthcheck", stderr)
	if help, err := parseFlags(fs, args); help || err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError(fmt.Sprintf("healthcheck: unexpected argument %q", fs.Arg(0)))
	}
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
