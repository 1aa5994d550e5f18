package carscan_test

import (
	"bytes"
	"os"
	"testing"

	"github.com/multiformats/go-multihash"
)

// TestGenerateTestdata writes testdata/*.car when W3DAG_GEN_TESTDATA=1.
func TestGenerateTestdata(t *testing.T) {
	if os.Getenv("W3DAG_GEN_TESTDATA") != "1" {
		t.Skip("set W3DAG_GEN_TESTDATA=1 to write testdata")
	}
	blocks := [][]byte{[]byte("first block"), bytes.Repeat([]byte("second "), 500), []byte("third")}
	good := car(blocks...)
	other := rawCID([]byte("not in the CAR"), multihash.SHA2_256)
	c := rawCID([]byte("x"), multihash.SHA2_256)
	files := map[string][]byte{
		"good-three-blocks.car":       good,
		"good-no-blocks.car":          header(1, other),
		"good-root-elsewhere.car":     append(header(1, other), section(rawCID(blocks[0], multihash.SHA2_256), blocks[0])...),
		"notcar-readme.car":           []byte("# README\n\nThis is not a CAR.\n"),
		"notcar-version2.car":         header(2, other),
		"truncated-last-block.car":    good[:len(good)-3],
		"notcar-truncated-header.car": good[:10],
		"mismatch-block-1.car":        append(car(blocks[0]), section(c, []byte("y"))...),
	}
	for name, data := range files {
		if err := os.WriteFile("testdata/"+name, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
