package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/redirector/redirector/internal/metrics"
	"github.com/redirector/redirector/internal/mirror"
	"github.com/redirector/redirector/internal/store"
)

// mirrorFile is the record mirror's file name in DATA_DIR.
const mirrorFile = "mirror.db"

// dataDir makes DATA_DIR if it is missing and returns its absolute path, which the start-up log names.
func dataDir(cfg config) (string, error) {
	dir, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return "", &configError{problems: []string{fmt.Sprintf("DATA_DIR %q: %v", cfg.DataDir, err)}}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", &configError{problems: []string{fmt.Sprintf("DATA_DIR %s cannot be made: %v", dir, err)}}
	}
	return dir, nil
}

// openMirror opens the record mirror in DATA_DIR and starts keeping it current from records; nil when
// MIRROR=off or without Redis (the embedded store needs none). What the file holds from an earlier run
// answers at once, whether or not Redis does. A file another process holds stops the start.
func openMirror(ctx context.Context, cfg config, redis bool, records *store.Records, logger *slog.Logger) (*mirror.Mirror, error) {
	if cfg.Mirror == "off" || !redis {
		return nil, nil
	}
	dir, err := dataDir(cfg)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, mirrorFile)
	m, err := mirror.Open(path, mirror.Options{Resync: cfg.MirrorResync, Logger: logger})
	if errors.Is(err, mirror.ErrLocked) {
		return nil, &configError{problems: []string{fmt.Sprintf("DATA_DIR: the record mirror %s is in use by another process; give each process its own DATA_DIR", path)}}
	}
	if err != nil {
		return nil, err
	}
	logger.Info("record mirror", "path", path, "complete", m.Complete(), "resync", cfg.MirrorResync)
	m.Start(ctx, records)
	return m, nil
}

// registerMirrorStats exposes what the mirror counts.
func registerMirrorStats(m *metrics.Metrics, mir *mirror.Mirror) {
	m.GaugeFunc("redirector_mirror_synced_timestamp_seconds", "When the record mirror's last full copy ended (unix seconds; 0: none since start).",
		func() float64 {
			if t := mir.Stats().Synced; !t.IsZero() {
				return float64(t.UnixNano()) / 1e9
			}
			return 0
		})
	m.GaugeFunc("redirector_mirror_records", "Records the record mirror's last full copy read from Redis.",
		func() float64 { return float64(mir.Stats().Records) })
	m.CounterFunc("redirector_mirror_refreshed_total", "Changed records the mirror read again from Redis.",
		func() float64 { return float64(mir.Stats().Refreshed) })
	m.CounterFunc("redirector_mirror_answers_total", "Short-link lookups answered from the mirror while Redis failed.",
		func() float64 { return float64(mir.Stats().Answered) })
}
