//go:build chaos

package main

// mirrorLinks is how many links TestMirrorRestartDuringOutage makes under -tags chaos: the 10,000 of
// issue 14.
const mirrorLinks = 10_000
