package logs

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/w3dag/w3dag/blob"
	"github.com/w3dag/w3dag/blob/mem"
)

// refusingBatcher is a blob store whose batches all fail, empty ones included.
type refusingBatcher struct{ blob.Store }

func (refusingBatcher) PutBatch(context.Context, []blob.BatchItem) error {
	return errors.New("no batches today")
}

// TestWriteNothing: a chunk with no files (its records all missing from the log) writes
// nothing and does not fail, even on a store that refuses empty batches; the error of a
// failing batch names its first file.
func TestWriteNothing(t *testing.T) {
	x := &Exporter{blobs: refusingBatcher{mem.New()}}
	if err := x.write(context.Background(), nil); err != nil {
		t.Fatalf("writing no files: %v", err)
	}
	err := x.write(context.Background(), []blob.BatchItem{{Key: "logs/a.jsonl", Data: []byte("{}\n")}})
	if err == nil || !strings.Contains(err.Error(), "logs/a.jsonl") {
		t.Fatalf("a failing batch: %v, want an error naming logs/a.jsonl", err)
	}
}
