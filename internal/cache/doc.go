// Package cache keeps what the redirector stores: affiliate links in two tiers (in process, then Redis),
// short-link records and click counters. It is the only package that speaks to Redis.
package cache
