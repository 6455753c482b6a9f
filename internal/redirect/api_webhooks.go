package redirect

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/julienschmidt/httprouter"

	"github.com/redirector/redirector/internal/webhook"
)

// Webhooks registers webhooks and sends them the service's events; *webhook.Service is one. Emit never
// blocks. Errors: webhook.ErrInvalid (bad input, saying why), webhook.ErrTooMany, webhook.ErrNotFound,
// or the store's.
type Webhooks interface {
	Emit(event webhook.Event, data any)
	Register(ctx context.Context, url string, events []string) (webhook.Hook, error)
	List(ctx context.Context) ([]webhook.Hook, error)
	Delete(ctx context.Context, id string) error
	Deliveries(ctx context.Context, id string) ([]webhook.Delivery, error)
}

// emit tells the webhooks of event, without waiting for them; nothing when none are configured.
func emit(d Deps, event webhook.Event, data any) {
	if d.Webhooks != nil {
		d.Webhooks.Emit(event, data)
	}
}

// deletedJSON is the data of a link.deleted event.
type deletedJSON struct {
	ID string `json:"id"`
}

// webhookBody is the body of POST /api/webhooks.
type webhookBody struct {
	URL    string   `json:"url"`
	Events []string `json:"events"`
}

// deliveryJSON is a delivery as GET /api/webhooks/{id}/deliveries lists it.
type deliveryJSON struct {
	ID          string        `json:"id"`
	Event       webhook.Event `json:"event"`
	State       string        `json:"state"` // pending, delivered, failed
	CreatedAt   time.Time     `json:"created_at"`
	Attempts    int           `json:"attempts"`
	LastStatus  int           `json:"last_status,omitempty"`
	LastError   string        `json:"last_error,omitempty"`
	NextRetry   *time.Time    `json:"next_retry,omitempty"`
	DeliveredAt *time.Time    `json:"delivered_at,omitempty"`
}

// failWebhook answers a webhook error: the table of webhook errors to statuses.
func failWebhook(w http.ResponseWriter, d Deps, err error) {
	switch {
	case errors.Is(err, webhook.ErrInvalid):
		writeError(w, http.StatusBadRequest, strings.TrimPrefix(err.Error(), webhook.ErrInvalid.Error()+": "))
	case errors.Is(err, webhook.ErrNotFound):
		writeError(w, http.StatusNotFound, "no such webhook")
	case errors.Is(err, webhook.ErrTooMany):
		writeError(w, http.StatusConflict, "too many webhooks: delete one first")
	default:
		fail(w, d, err, "")
	}
}

// handleWebhookCreate serves POST /api/webhooks {"url", "events"}: 201 with the webhook and its
// secret, which no other answer shows.
func handleWebhookCreate(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body webhookBody
		if !decodeBody(w, r, &body) {
			return
		}
		h, err := d.Webhooks.Register(r.Context(), body.URL, body.Events)
		if err != nil {
			failWebhook(w, d, err)
			return
		}
		writeJSON(w, http.StatusCreated, h)
	})
}

// handleWebhookList serves GET /api/webhooks: {"webhooks": [...]}, oldest first, without secrets.
func handleWebhookList(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hooks, err := d.Webhooks.List(r.Context())
		if err != nil {
			failWebhook(w, d, err)
			return
		}
		writeJSON(w, http.StatusOK, struct {
			Webhooks []webhook.Hook `json:"webhooks"`
		}{hooks})
	})
}

// handleWebhookDelete serves DELETE /api/webhooks/{id}: 204; its deliveries still queued are dropped.
func handleWebhookDelete(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, ok := webhookID(w, r)
		if !ok {
			return
		}
		if err := d.Webhooks.Delete(r.Context(), id); err != nil {
			failWebhook(w, d, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

// handleWebhookDeliveries serves GET /api/webhooks/{id}/deliveries: the latest deliveries, newest first.
func handleWebhookDeliveries(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, ok := webhookID(w, r)
		if !ok {
			return
		}
		ds, err := d.Webhooks.Deliveries(r.Context(), id)
		if err != nil {
			failWebhook(w, d, err)
			return
		}
		out := make([]deliveryJSON, len(ds))
		for i, x := range ds {
			out[i] = deliveryJSON{
				ID: x.ID, Event: x.Event, State: x.State(), CreatedAt: x.Created, Attempts: x.Attempts,
				LastStatus: x.Status, LastError: x.Error,
			}
			if !x.NextRetry.IsZero() {
				out[i].NextRetry = &x.NextRetry
			}
			if !x.Delivered.IsZero() {
				out[i].DeliveredAt = &x.Delivered
			}
		}
		writeJSON(w, http.StatusOK, struct {
			Deliveries []deliveryJSON `json:"deliveries"`
		}{out})
	})
}

// webhookID returns the {id} of an /api/webhooks/{id} request; one no webhook can have is a 404 here.
func webhookID(w http.ResponseWriter, r *http.Request) (string, bool) {
	id := httprouter.ParamsFromContext(r.Context()).ByName("id")
	rest, ok := strings.CutPrefix(id, "wh_")
	if !ok || len(rest) != 16 || strings.Trim(rest, "0123456789abcdef") != "" {
		writeError(w, http.StatusNotFound, "no such webhook")
		return "", false
	}
	return id, true
}
