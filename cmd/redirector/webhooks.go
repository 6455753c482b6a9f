package main

import (
	"context"
	"log/slog"

	"github.com/redis/go-redis/v9"

	"github.com/redirector/redirector/internal/link"
	"github.com/redirector/redirector/internal/metrics"
	"github.com/redirector/redirector/internal/webhook"
)

// runningWebhooks is the webhook service running in the background of this process.
type runningWebhooks struct {
	*webhook.Service
	stop func() // ends Run and waits for the attempts under way
}

// startWebhooks starts the webhook deliveries (see internal/webhook), which every replica over the same
// Redis shares: events emitted here may be sent by another replica, and the other way round.
func startWebhooks(ctx context.Context, cfg config, rdb redis.UniversalClient, m *metrics.Metrics, logger *slog.Logger) runningWebhooks {
	s := webhook.New(rdb, webhook.Options{AllowPrivate: cfg.WebhookAllowPrivate, Logger: logger})
	m.CounterFunc("redirector_webhook_attempts_total", "Webhook deliveries attempted by this process.",
		func() float64 { return float64(s.Attempts()) })
	m.CounterFunc("redirector_webhook_events_dropped_total", "Events not queued for the webhooks because the queue's writer was behind.",
		func() float64 { return float64(s.Dropped()) })
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); s.Run(wctx) }()
	return runningWebhooks{Service: s, stop: func() { cancel(); <-done }}
}

// healthChanged is the link.health_changed event of a link whose health state changed.
func (w runningWebhooks) healthChanged(id string, from, to link.HealthState) {
	w.Emit(webhook.HealthChanged, struct {
		ID   string           `json:"id"`
		From link.HealthState `json:"from"`
		To   link.HealthState `json:"to"`
	}{id, from, to})
}
