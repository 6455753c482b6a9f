// Package cache is only the affiliate-link cache, links that can be fetched again, kept in two tiers (in
// process, then Redis) with the bus that tells replicas to forget a changed one; the store is internal/store.
package cache
