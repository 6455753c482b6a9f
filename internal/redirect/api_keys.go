package redirect

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/julienschmidt/httprouter"

	"github.com/redirector/redirector/internal/apikey"
)

// keyJSON is an API key as the admin API shows it: never its hash. Key, the key itself, is in the
// answer of POST alone.
type keyJSON struct {
	ID         string         `json:"id"`
	Name       string         `json:"name"`
	Scopes     []apikey.Scope `json:"scopes"`
	CreatedAt  time.Time      `json:"created_at"`
	LastUsedAt *time.Time     `json:"last_used_at"`
	Key        string         `json:"key,omitempty"`
}

func toKeyJSON(k apikey.Key) keyJSON {
	out := keyJSON{ID: k.ID, Name: k.Name, Scopes: k.Scopes, CreatedAt: k.Created.UTC()}
	if !k.LastUsed.IsZero() {
		t := k.LastUsed.UTC()
		out.LastUsedAt = &t
	}
	return out
}

// keyBody is the body of POST /api/keys.
type keyBody struct {
	Name   string         `json:"name"`
	Scopes []apikey.Scope `json:"scopes"`
}

// handleKeyCreate serves POST /api/keys: 201 with the key, shown this once; 400 for a bad name or
// scope; 409 for a name taken.
func handleKeyCreate(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !keysKept(w, d) {
			return
		}
		var body keyBody
		if !decodeBody(w, r, &body) {
			return
		}
		k, token, err := d.Keys.Create(r.Context(), body.Name, body.Scopes, d.Now())
		if err != nil {
			failKey(w, d, err)
			return
		}
		out := toKeyJSON(k)
		out.Key = token
		writeJSON(w, http.StatusCreated, out)
	})
}

// handleKeyList serves GET /api/keys: every key, oldest first, without its secret.
func handleKeyList(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !keysKept(w, d) {
			return
		}
		keys, err := d.Keys.List(r.Context())
		if err != nil {
			failKey(w, d, err)
			return
		}
		out := struct {
			Keys []keyJSON `json:"keys"`
		}{Keys: make([]keyJSON, 0, len(keys))}
		for _, k := range keys {
			out.Keys = append(out.Keys, toKeyJSON(k))
		}
		writeJSON(w, http.StatusOK, out)
	})
}

// handleKeyRevoke serves DELETE /api/keys/{id}: 204, and no replica accepts the key from then on.
func handleKeyRevoke(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !keysKept(w, d) {
			return
		}
		if err := d.Keys.Revoke(r.Context(), httprouter.ParamsFromContext(r.Context()).ByName("id")); err != nil {
			failKey(w, d, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

func keysKept(w http.ResponseWriter, d Deps) bool {
	if d.Keys == nil {
		writeError(w, http.StatusNotFound, "API keys are not kept by this service")
		return false
	}
	return true
}

// failKey is fail with the words of keys.
func failKey(w http.ResponseWriter, d Deps, err error) {
	switch {
	case errors.Is(err, apikey.ErrInvalid):
		writeError(w, http.StatusBadRequest, strings.TrimPrefix(err.Error(), apikey.ErrInvalid.Error()+": "))
	case errors.Is(err, apikey.ErrExists):
		writeError(w, http.StatusConflict, "another key has this name (names are the same in any case)")
	case errors.Is(err, apikey.ErrNotFound):
		writeError(w, http.StatusNotFound, "no such key")
	default:
		fail(w, d, err, "")
	}
}
