// Package store is the store of record: short-link records, their target index and click counts, kept in
// Redis (a server, a cluster or through sentinels) or in the embedded in-process store.
package store
