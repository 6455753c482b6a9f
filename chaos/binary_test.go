//go:build !chaos

package chaos

// raceBinary builds the service with the race detector; the long suite does, the short one saves
// the build time.
const raceBinary = false
