package main

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redirector/redirector/internal/affiliate"
	"github.com/redirector/redirector/internal/breaker"
	"github.com/redirector/redirector/internal/earnings"
	"github.com/redirector/redirector/internal/metrics"
	"github.com/redirector/redirector/internal/store"
	"github.com/redirector/redirector/internal/webhook"
)

// startOrderSync starts the background order sync (every ORDER_SYNC_INTERVAL, until ctx ends) and
// returns the store it writes, for the reports. It pauses while the platform's breaker is not closed,
// so that clicks keep what the platform gives, and shares the client's rate limit (PLATFORM_RATE).
func startOrderSync(ctx context.Context, cfg config, rdb redis.UniversalClient, client *affiliate.Client,
	records *store.Records, guard *breaker.Guard, m *metrics.Metrics, logger *slog.Logger, hooks *webhook.Service) *earnings.Store {
	st := earnings.NewStore(rdb, 0)
	var synced, failures atomic.Int64
	var last atomic.Int64
	syncer := earnings.NewSyncer(client, records, st, earnings.SyncOptions{
		DefaultChannel: cfg.TrackingID, Zone: cfg.orderZone, Lookback: cfg.OrderLookback,
		Paused:   func() bool { return guard.State() != "closed" },
		Logger:   logger,
		OnOrders: func(n int) { synced.Add(int64(n)) },
		OnOrder:  func(o earnings.Order) { hooks.Emit(webhook.OrderUpdated, o) },
	})
	m.CounterFunc("redirector_orders_synced_total", "Orders written by the order sync (new ones and changes).",
		func() float64 { return float64(synced.Load()) })
	m.CounterFunc("redirector_order_sync_errors_total", "Order syncs that failed (the next resumes from the cursor).",
		func() float64 { return float64(failures.Load()) })
	m.GaugeFunc("redirector_order_sync_last_success_seconds", "Unix time of the last order sync that completed, 0 before one has.",
		func() float64 { return float64(last.Load()) })
	go syncer.Run(ctx, min(cfg.OrderSyncInterval, 30*time.Second), cfg.OrderSyncInterval, func(error) { failures.Add(1) })
	go func() {
		// The gauge follows the store, so it shows another replica's syncs too.
		t := newTicker(cfg.OrderSyncInterval)
		defer t.Stop()
		for {
			if at, err := st.LastSync(ctx); err == nil && !at.IsZero() {
				last.Store(at.Unix())
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return st
}

func newTicker(d time.Duration) *time.Ticker { return time.NewTicker(max(d/10, time.Second)) }
