package mem_test

import (
	"testing"

	"github.com/w3dag/w3dag/kv"
	"github.com/w3dag/w3dag/kv/kvtest"
	"github.com/w3dag/w3dag/kv/mem"
)

func TestContract(t *testing.T) {
	kvtest.Run(t, func(t *testing.T) kv.Store { return mem.New() })
}
