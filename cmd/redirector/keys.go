package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/redirector/redirector/internal/apikey"
)

// scopeFlags is --scope given once or more, each a scope or a comma-separated list of them.
type scopeFlags []apikey.Scope

func (s *scopeFlags) String() string { return fmt.Sprint(*s) }

func (s *scopeFlags) Set(v string) error {
	for _, f := range strings.Split(v, ",") {
		sc, ok := apikey.ParseScope(strings.TrimSpace(f))
		if !ok {
			return fmt.Errorf("unknown scope %q: scopes are %s", f, apikey.ScopeList())
		}
		*s = append(*s, sc)
	}
	return nil
}

// runKeys creates, lists and revokes API keys in the store (REDIS_URL, or the embedded store in
// DATA_DIR while no process runs on it), as POST, GET and DELETE /api/keys do.
func runKeys(ctx context.Context, args, environ []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError("keys: say create, list or revoke (run redirector help)")
	}
	switch args[0] {
	case "create":
		fs := newFlagSet("keys", stderr)
		name := fs.String("name", "", "the key's name, unique in any case: letters, digits, '.', '-' and '_'")
		var scopes scopeFlags
		fs.Var(&scopes, "scope", "a scope the key holds ("+apikey.ScopeList()+"); repeat it or separate with commas")
		if help, err := parseFlags(fs, args[1:]); help || err != nil {
			return err
		}
		if fs.NArg() > 0 {
			return usageError(fmt.Sprintf("keys create: unexpected argument %q", fs.Arg(0)))
		}
		return withKeys(ctx, environ, stderr, func(keys *apikey.Store) error {
			k, token, err := keys.Create(ctx, *name, scopes, time.Now())
			if errors.Is(err, apikey.ErrInvalid) || errors.Is(err, apikey.ErrExists) {
				return usageError("keys create: " + err.Error())
			}
			if err != nil {
				return err
			}
			fmt.Fprintln(stdout, token)
			fmt.Fprintf(stderr, "created key %s (%s) with scopes %s\nthe key is shown this once: only its hash is stored; keep it secret\n",
				k.ID, k.Name, joinScopes(k.Scopes))
			return nil
		})
	case "list":
		fs := newFlagSet("keys", stderr)
		if help, err := parseFlags(fs, args[1:]); help || err != nil {
			return err
		}
		if fs.NArg() > 0 {
			return usageError(fmt.Sprintf("keys list: unexpected argument %q", fs.Arg(0)))
		}
		return withKeys(ctx, environ, stderr, func(keys *apikey.Store) error {
			list, err := keys.List(ctx)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tNAME\tSCOPES\tCREATED\tLAST USED")
			for _, k := range list {
				used := "never"
				if !k.LastUsed.IsZero() {
					used = k.LastUsed.UTC().Format(time.RFC3339)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", k.ID, k.Name, joinScopes(k.Scopes), k.Created.UTC().Format(time.RFC3339), used)
			}
			return tw.Flush()
		})
	case "revoke":
		fs := newFlagSet("keys", stderr)
		if help, err := parseFlags(fs, args[1:]); help || err != nil {
			return err
		}
		if fs.NArg() != 1 {
			return usageError("keys revoke: give the key's id or name")
		}
		return withKeys(ctx, environ, stderr, func(keys *apikey.Store) error {
			k, ok, err := keys.Find(ctx, fs.Arg(0))
			if err != nil {
				return err
			}
			if !ok {
				return usageError(fmt.Sprintf("keys revoke: no key has the id or name %q", fs.Arg(0)))
			}
			if err := keys.Revoke(ctx, k.ID); err != nil {
				return err
			}
			fmt.Fprintf(stderr, "revoked key %s (%s): no replica accepts it any more\n", k.ID, k.Name)
			return nil
		})
	}
	return usageError(fmt.Sprintf("keys: unknown subcommand %q: create, list or revoke", args[0]))
}

// withKeys opens the store and calls fn with its API keys.
func withKeys(ctx context.Context, environ []string, stderr io.Writer, fn func(*apikey.Store) error) error {
	rdb, closeFn, err := openForBackup(ctx, nil, environ, false, stderr)
	if err != nil {
		return err
	}
	defer closeFn()
	return fn(apikey.NewStore(rdb, nil))
}

func joinScopes(scopes []apikey.Scope) string {
	s := make([]string, len(scopes))
	for i, sc := range scopes {
		s[i] = string(sc)
	}
	return strings.Join(s, ",")
}
