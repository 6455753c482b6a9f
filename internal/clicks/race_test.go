//go:build race

package clicks

// sparse is how much more sparsely the fixture tests sample crawlerdetect's files under the race detector,
// which slows Go's regular expressions (the reference they compare with) some thirty times.
const sparse = 10
