package dag_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/w3dag/w3dag/dag"
)

// TestMessage checks that a receipt message does not repeat what the receipt's name says.
func TestMessage(t *testing.T) {
	p := "/did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK/pins/bafy"
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"sentinel with detail", fmt.Errorf("%w: no entry at %s", dag.ErrNotFound, p), "no entry at " + p},
		{"detail wrapping a cause", fmt.Errorf("%w: value of %s: %w", dag.ErrInvalidValue, p, errors.New(`unknown field "x"`)), "value of " + p + `: unknown field "x"`},
		{"sentinel alone", dag.ErrNotFound, "not found"},
		{"Failf", dag.Failf("ShardNotFound", "shard %s is not stored", "bag"), "shard bag is not stored"},
		{"more context in front", fmt.Errorf("machine: %w", fmt.Errorf("%w: no entry at %s", dag.ErrNotFound, p)), "machine: not found: no entry at " + p},
		{"not a failure", errors.New("disk full"), "disk full"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := dag.Message(tt.err); got != tt.want {
				t.Errorf("Message = %q, want %q", got, tt.want)
			}
		})
	}
}
