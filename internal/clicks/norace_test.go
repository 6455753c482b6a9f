//go:build !race

package clicks

// sparse is 1 without the race detector: the fixture tests read every sampled line.
const sparse = 1
