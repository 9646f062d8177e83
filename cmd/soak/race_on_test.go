//go:build race

package main

// raceEnabled: the test was built with -race, so the service it builds is too (and the
// build reuses the test's compiled packages).
const raceEnabled = true
