package redirect

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/redirector/redirector/internal/apikey"
)

// APIKeys are the named API keys with scopes; *apikey.Store is one.
type APIKeys interface {
	// Authenticate returns the live key token is; ok is false for any other token.
	Authenticate(ctx context.Context, token string) (k apikey.Key, ok bool, err error)
	// Used records, without blocking, that the key id was used at now.
	Used(id string, now time.Time)
	// Create, List and Revoke: see apikey.Store, whose errors are apikey.ErrInvalid, ErrExists,
	// ErrNotFound or the store's.
	Create(ctx context.Context, name string, scopes []apikey.Scope, now time.Time) (apikey.Key, string, error)
	List(ctx context.Context) ([]apikey.Key, error)
	Revoke(ctx context.Context, id string) error
}

// scoped is an /api/ handler with the scope a caller must hold: what api(scope, h) returns, so that
// staticRoutes can list each route's scope (and the tests can check every route's).
type scoped struct {
	http.Handler
	scope apikey.Scope
}

// anyScope guards what any live key may reach: the 404 of an unknown /api/ path.
const anyScope apikey.Scope = ""

// authorizer returns the guard of the admin API, api(scope, h): h behind the in-flight cap, served to
// a request that carries ADMIN_TOKEN (every scope) or a live API key holding scope.
//   - no token configured (ADMIN_TOKEN empty) and no API key given: 403;
//   - a wrong, unknown or revoked token: 401, which spends one of the client's failed logins
//     (AUTH_FAILURES_PER_MINUTE): past them a wrong token gets 429, and the right one still passes, so
//     nobody who shares the admin's address can lock the admin out;
//   - a live key without scope: 403 naming the scope;
//   - the store not answering while a key is checked: 503.
//
// The admin token is compared in constant time; a key's hash too (apikey.Store.Authenticate).
func authorizer(d Deps) func(scope apikey.Scope, h http.Handler) http.Handler {
	want := sha256.Sum256([]byte(d.AdminToken))
	return func(scope apikey.Scope, next http.Handler) http.Handler {
		if _, ok := apikey.ParseScope(string(scope)); !ok && scope != anyScope {
			panic("api route with unknown scope " + strconv.Quote(string(scope)))
		}
		guard := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Cache-Control", "no-store")
			token, ok := bearerToken(r.Header.Get("Authorization"))
			if d.AdminToken != "" {
				got := sha256.Sum256([]byte(token))
				if subtle.ConstantTimeCompare(got[:], want[:]) == 1 && ok {
					next.ServeHTTP(w, r)
					return
				}
			}
			isKey := ok && d.Keys != nil && apikey.LooksLike(token)
			if isKey {
				k, found, err := d.Keys.Authenticate(r.Context(), token)
				if err != nil {
					d.Logger.Error("api key", "err", err)
					writeError(w, http.StatusServiceUnavailable, "the store is not answering: try again")
					return
				}
				if found {
					d.Keys.Used(k.ID, d.Now())
					if scope != anyScope && !k.Has(scope) {
						writeError(w, http.StatusForbidden, "this API key lacks the scope "+string(scope))
						return
					}
					next.ServeHTTP(w, r)
					return
				}
			}
			if d.AdminToken == "" && !isKey {
				writeError(w, http.StatusForbidden, "the admin API is disabled: set ADMIN_TOKEN to enable it")
				return
			}
			if ok, retry := d.Limits.authFailed(r); !ok {
				w.Header().Set("Retry-After", strconv.Itoa(int(max(1, math.Ceil(retry.Seconds())))))
				writeError(w, http.StatusTooManyRequests, "too many failed logins: try again later")
				return
			}
			w.Header().Set("WWW-Authenticate", `Bearer realm="redirector"`)
			writeError(w, http.StatusUnauthorized, "missing or wrong bearer token")
		})
		return scoped{Handler: d.Limits.capped(guard), scope: scope}
	}
}
