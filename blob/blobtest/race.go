//go:build race

package blobtest

// raceEnabled is set when the tests run under the race detector, which makes sync.Pool drop
// a quarter of what is put back: a store that streams through pooled buffers allocates
// fresh ones then, so the live-heap bound of testLarge does not hold and is not checked.
const raceEnabled = true
