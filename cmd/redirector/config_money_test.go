package main

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// TestConfigChannels: the default channel and the list, and every bad money setting named.
func TestConfigChannels(t *testing.T) {
	base := []string{"BASE_URL=https://go.example.test", "ALIEXPRESS_APP_KEY=k", "ALIEXPRESS_APP_SECRET=s"}
	for _, tc := range []struct {
		name     string
		env      []string
		def      string
		list     []string
		problems []string // substrings of the error; none: it loads
	}{
		{"one tracking id", []string{"ALIEXPRESS_TRACKING_ID=main"}, "main", []string{"main"}, nil},
		{"list, first is the default", []string{"ALIEXPRESS_TRACKING_IDS=a,b"}, "a", []string{"a", "b"}, nil},
		{"id and list", []string{"ALIEXPRESS_TRACKING_ID=main", "ALIEXPRESS_TRACKING_IDS=a,b"}, "main", []string{"main", "a", "b"}, nil},
		{"neither", nil, "", nil, []string{"missing ALIEXPRESS_TRACKING_ID"}},
		{"bad entry", []string{"ALIEXPRESS_TRACKING_IDS=a,b c"}, "", nil, []string{`ALIEXPRESS_TRACKING_IDS entry "b c"`}},
		{"bad sub id", []string{"ALIEXPRESS_TRACKING_ID=m", "SUB_ID=yes"}, "", nil, []string{`SUB_ID "yes"`}},
		{"bad zone", []string{"ALIEXPRESS_TRACKING_ID=m", "ORDER_TIME_ZONE=Mars/Olympus"}, "", nil, []string{"ORDER_TIME_ZONE"}},
		{"interval too short", []string{"ALIEXPRESS_TRACKING_ID=m", "ORDER_SYNC_INTERVAL=5s"}, "", nil, []string{"ORDER_SYNC_INTERVAL"}},
		{"lookback too long", []string{"ALIEXPRESS_TRACKING_ID=m", "ORDER_LOOKBACK=10000h"}, "", nil, []string{"ORDER_LOOKBACK"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := append(slices.Clone(base), tc.env...)
			cfg, err := loadConfig(env, false)
			if len(tc.problems) > 0 {
				var ce *configError
				if !errors.As(err, &ce) {
					t.Fatalf("loadConfig(%q) = %v, want a *configError", env, err)
				}
				for _, p := range tc.problems {
					if !strings.Contains(err.Error(), p) {
						t.Errorf("loadConfig(%q) = %v, want it to name %q", env, err, p)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("loadConfig(%q) = %v", env, err)
			}
			if cfg.TrackingID != tc.def || !slices.Equal(cfg.TrackingIDs, tc.list) {
				t.Errorf("loadConfig(%q): default %q, list %q; want %q, %q", env, cfg.TrackingID, cfg.TrackingIDs, tc.def, tc.list)
			}
			if cfg.orderZone == nil || cfg.orderZone.String() != "America/Los_Angeles" || cfg.SubID != "off" {
				t.Errorf("defaults: zone %v, SUB_ID %q", cfg.orderZone, cfg.SubID)
			}
		})
	}
}
