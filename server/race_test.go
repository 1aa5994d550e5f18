//go:build race

package server

// raceEnabled reports that the race detector is on: it slows the code it instruments
// several times over, so tests that bound CPU time do not hold there and skip.
const raceEnabled = true
