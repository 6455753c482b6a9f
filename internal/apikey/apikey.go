// Package apikey is the service's named API keys: their scopes, the form of a key, and the store
// that keeps them as hashes.
package apikey

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Scope is what a key may do. Each scope stands alone: links:write does not include links:read.
type Scope string

// The scopes a key may hold.
const (
	LinksRead  Scope = "links:read"  // read links, their records and health, export, pages
	LinksWrite Scope = "links:write" // create, change and delete links
	StatsRead  Scope = "stats:read"  // click statistics and earnings reports
	PagesWrite Scope = "pages:write" // create, change and delete bio pages
	KeysAdmin  Scope = "keys:admin"  // create, list and revoke API keys (as strong as ADMIN_TOKEN)
)

// Scopes lists every scope, in the order the documentation gives them.
var Scopes = []Scope{LinksRead, LinksWrite, StatsRead, PagesWrite, KeysAdmin}

// ParseScope returns the scope s names; ok is false for anything else.
func ParseScope(s string) (Scope, bool) {
	if slices.Contains(Scopes, Scope(s)) {
		return Scope(s), true
	}
	return "", false
}

// Errors of the store. Check them with errors.Is.
var (
	ErrInvalid  = errors.New("invalid key")          // a bad name or scope; wrapped with the reason
	ErrExists   = errors.New("key name is taken")    // another key has the name (in any case)
	ErrNotFound = errors.New("no such key")          // no live key has the id or name
	errFormat   = errors.New("not an API key token") // Parse
)

func invalid(reason string) error { return fmt.Errorf("%w: %s", ErrInvalid, reason) }

// Key is an API key as stored: never the key itself, only its hash.
type Key struct {
	ID      string    `json:"id"`
	Name    string    `json:"name"`
	Scopes  []Scope   `json:"scopes"`
	Hash    string    `json:"hash"` // hex SHA-256 of the whole key
	Created time.Time `json:"created"`
	// LastUsed is when the key last passed authentication, to the minute (zero: never). It is kept
	// apart from the record, so it is not part of the record's JSON.
	LastUsed time.Time `json:"-"`
}

// Has reports whether k holds scope.
func (k Key) Has(scope Scope) bool { return slices.Contains(k.Scopes, scope) }

// A key reads "rdk_<id>_<secret>": the id (16 hex digits, not secret: it names the key in lists and
// logs) and 32 random bytes in unpadded base64url. Only its SHA-256 is stored: the secret has 256
// bits of entropy, so a plain hash is as strong as a slow one would be.
const (
	prefix    = "rdk_"
	idLen     = 16
	secretLen = 43
	tokenLen  = len(prefix) + idLen + 1 + secretLen
)

// LooksLike reports whether token has the form of an API key (it may still be unknown).
func LooksLike(token string) bool {
	_, err := Parse(token)
	return err == nil
}

// Parse returns the id of a key token; it fails for a token that does not have a key's form.
func Parse(token string) (id string, err error) {
	if len(token) != tokenLen || !strings.HasPrefix(token, prefix) || token[len(prefix)+idLen] != '_' {
		return "", errFormat
	}
	id = token[len(prefix) : len(prefix)+idLen]
	if !validID(id) {
		return "", errFormat
	}
	if _, err := base64.RawURLEncoding.DecodeString(token[len(prefix)+idLen+1:]); err != nil {
		return "", errFormat
	}
	return id, nil
}

// validID reports whether id is 16 lower-case hex digits.
func validID(id string) bool {
	if len(id) != idLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// newToken draws a new key and returns it with its id and hash.
func newToken() (token, id, hash string) {
	var b [8 + 32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	id = hex.EncodeToString(b[:8])
	token = prefix + id + "_" + base64.RawURLEncoding.EncodeToString(b[8:])
	return token, id, hashOf(token)
}

func hashOf(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

// maxName bounds a key's name.
const maxName = 64

// checkName refuses a name that is empty, too long, or holds anything but letters, digits, '.', '-'
// and '_' (so it can be typed on a command line and shown anywhere as it is).
func checkName(name string) error {
	if name == "" || len(name) > maxName {
		return invalid(fmt.Sprintf("name must be 1 to %d characters", maxName))
	}
	for _, c := range name {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '-' || c == '_') {
			return invalid("name may hold only letters, digits, '.', '-' and '_'")
		}
	}
	return nil
}

// checkScopes refuses an empty list and an unknown scope, and returns the scopes without repeats,
// in the order of Scopes.
func checkScopes(scopes []Scope) ([]Scope, error) {
	if len(scopes) == 0 {
		return nil, invalid("at least one scope is required: " + ScopeList())
	}
	out := make([]Scope, 0, len(scopes))
	for _, s := range Scopes {
		if slices.Contains(scopes, s) {
			out = append(out, s)
		}
	}
	for _, s := range scopes {
		if !slices.Contains(Scopes, s) {
			return nil, invalid(fmt.Sprintf("unknown scope %q: scopes are %s", s, ScopeList()))
		}
	}
	return out, nil
}

// ScopeList is the scopes as a comma-separated list, for messages.
func ScopeList() string {
	s := make([]string, len(Scopes))
	for i, sc := range Scopes {
		s[i] = string(sc)
	}
	return strings.Join(s, ", ")
}
