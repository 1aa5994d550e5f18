//go:build !race

package blobtest

// raceEnabled is set when the tests run under the race detector (see race.go).
const raceEnabled = false
