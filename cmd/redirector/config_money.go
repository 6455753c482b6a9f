package main

import (
	"fmt"
	"slices"
	"time"

	"github.com/redirector/redirector/internal/link"
)

// checkMoney checks the channel, sub-id and order-sync settings, fills in the default channel, and
// returns the problems it found.
//
// ALIEXPRESS_TRACKING_IDS lists the channels; ALIEXPRESS_TRACKING_ID, when set, is the default (and is
// added to the list), else the list's first. A tracking id is 1 to 64 letters, digits, '_' or '-'.
func checkMoney(cfg *config) []string {
	var problems []string
	if cfg.TrackingID == "" && len(cfg.TrackingIDs) > 0 {
		cfg.TrackingID = cfg.TrackingIDs[0]
	}
	if cfg.TrackingID != "" && !slices.Contains(cfg.TrackingIDs, cfg.TrackingID) {
		cfg.TrackingIDs = append([]string{cfg.TrackingID}, cfg.TrackingIDs...)
	}
	for _, id := range cfg.TrackingIDs {
		if !link.ValidChannel(id) {
			problems = append(problems, fmt.Sprintf("ALIEXPRESS_TRACKING_IDS entry %q is not a tracking id (1 to 64 letters, digits, _ or -)", id))
		}
	}
	switch cfg.SubID {
	case "off", "link":
	default:
		problems = append(problems, fmt.Sprintf("SUB_ID %q is not off or link", cfg.SubID))
	}
	if cfg.OrderSyncInterval < time.Minute {
		problems = append(problems, "ORDER_SYNC_INTERVAL must be at least 1m")
	}
	if cfg.OrderLookback <= 0 || cfg.OrderLookback > 400*24*time.Hour {
		problems = append(problems, "ORDER_LOOKBACK must be positive and at most 9600h (400 days)")
	}
	zone, err := time.LoadLocation(cfg.OrderTimeZone)
	if err != nil || cfg.OrderTimeZone == "" {
		problems = append(problems, fmt.Sprintf("ORDER_TIME_ZONE %q is not an IANA time zone such as America/Los_Angeles", cfg.OrderTimeZone))
	}
	cfg.orderZone = zone
	return problems
}
