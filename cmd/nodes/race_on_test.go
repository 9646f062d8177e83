//go:build race

package main

// raceEnabled: the test was built with -race, so the nodes it builds are too (the build
// reuses the test's compiled packages).
const raceEnabled = true
