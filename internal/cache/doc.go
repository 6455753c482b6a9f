// Package cache is only the affiliate-link cache, links that can be fetched again, kept in two tiers (in
// process, then Redis); the store is internal/store, and telling replicas of a change is internal/invalidate.
package cache
