//go:build race

package ssekify_test

// raceEnabled reports a -race build: the heaviest load tests then run with
// fewer clients (the full figures run without -race, see scripts/test).
const raceEnabled = true
