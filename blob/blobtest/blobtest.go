package blobtest

import (
	"testing"

	"github.com/w3dag/w3dag/blob"
)

// DefaultLargeSize is the size of the blob streamed by the large-put test unless
// Options.LargeSize says otherwise.
const DefaultLargeSize = 64 << 20

// Options tune the suite for a backend. The zero value runs every check with defaults.
type Options struct {
	// LargeSize is the size of the blob streamed by the large-put test. Zero means
	// DefaultLargeSize.
	LargeSize int64
	// MaxPutHeap bounds how much the live heap may grow while the large blob is put.
	// Zero means LargeSize/4; negative disables the check (for in-memory stores). Under
	// the race detector it is not checked (internal/race).
	MaxPutHeap int64
}

// Run runs the contract suite with default Options. open must return a fresh, empty store
// each time it is called (it is called once per subtest); it should register any cleanup
// with t.Cleanup.
func Run(t *testing.T, open func(t *testing.T) blob.Store) {
	RunOptions(t, open, Options{})
}

// RunOptions runs the contract suite with opts.
func RunOptions(t *testing.T, open func(t *testing.T) blob.Store, opts Options) {
	if opts.LargeSize == 0 {
		opts.LargeSize = DefaultLargeSize
	}
	if opts.MaxPutHeap == 0 {
		opts.MaxPutHeap = opts.LargeSize / 4
	}
	tests := []struct {
		name string
		fn   func(t *testing.T, st blob.Store)
	}{
		{"PutGetStat", testPutGetStat},
		{"Replace", testReplace},
		{"NotFound", testNotFound},
		{"Delete", testDelete},
		{"List", testList},
		{"ListStop", testListStop},
		{"Verify", testVerify},
		{"FailingReader", testFailingReader},
		{"Canceled", testCanceled},
		{"Ranges", testRanges},
		{"InvalidKeys", testInvalidKeys},
		{"NestedKeys", testNestedKeys},
		{"Large", func(t *testing.T, st blob.Store) { testLarge(t, st, opts) }},
		{"Concurrent", testConcurrent},
		{"Presign", testPresign},
		{"Batch", testBatch},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}
