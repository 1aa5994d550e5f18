//go:build !race

package race

// Enabled is true when the program was built with the race detector.
const Enabled = false
