//go:build !chaos

package main

// mirrorLinks is how many links TestMirrorRestartDuringOutage makes: 1,000 in make test; the issue's
// 10,000 with -tags chaos (make chaos).
const mirrorLinks = 1000
