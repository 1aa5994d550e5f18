// Package race says whether the program was built with the race detector (go test -race).
// Tests that bound allocations or the live heap skip those bounds under it: its sync.Pool
// drops a quarter of what is put back, so code that reuses pooled buffers allocates fresh
// ones at random.
//
// It imports nothing.
package race
