//go:build !race

package ssekify_test

// raceEnabled reports a -race build.
const raceEnabled = false
