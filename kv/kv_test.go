package kv_test

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/w3dag/w3dag/kv"
)

func TestPrefixEnd(t *testing.T) {
	tests := []struct {
		name   string
		prefix []byte
		want   []byte
	}{
		{"empty", nil, nil},
		{"simple", []byte("abc"), []byte("abd")},
		{"trailing ff", []byte{'a', 0xff}, []byte{'b'}},
		{"trailing ff ff", []byte{'a', 0xff, 0xff}, []byte{'b'}},
		{"all ff", []byte{0xff, 0xff}, nil},
		{"single ff", []byte{0xff}, nil},
		{"zero byte", []byte{0x00}, []byte{0x01}},
		{"middle ff", []byte{'a', 0xff, 'c'}, []byte{'a', 0xff, 'd'}},
		{"fe", []byte{0xfe, 0xff}, []byte{0xff}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := append([]byte(nil), tt.prefix...)
			got := kv.PrefixEnd(in)
			if !bytes.Equal(got, tt.want) || (got == nil) != (tt.want == nil) {
				t.Fatalf("PrefixEnd(%x) = %x, want %x", tt.prefix, got, tt.want)
			}
			if !bytes.Equal(in, tt.prefix) {
				t.Fatalf("PrefixEnd modified its argument: %x", in)
			}
		})
	}
}

func TestCheckKey(t *testing.T) {
	tests := []struct {
		name string
		key  []byte
		want error
	}{
		{"nil", nil, kv.ErrEmptyKey},
		{"empty", []byte{}, kv.ErrEmptyKey},
		{"one byte", []byte{0}, nil},
		{"max", make([]byte, kv.MaxKeySize), nil},
		{"too large", make([]byte, kv.MaxKeySize+1), kv.ErrKeyTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := kv.CheckKey(tt.key)
			if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("CheckKey(len %d) = %v, want %v", len(tt.key), err, tt.want)
			}
		})
	}
}

func TestCheckValue(t *testing.T) {
	tests := []struct {
		name  string
		value []byte
		want  error
	}{
		{"nil", nil, nil},
		{"max", make([]byte, kv.MaxValueSize), nil},
		{"too large", make([]byte, kv.MaxValueSize+1), kv.ErrValueTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := kv.CheckValue(tt.value)
			if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("CheckValue(len %d) = %v, want %v", len(tt.value), err, tt.want)
			}
		})
	}
}

func ExamplePrefixEnd() {
	prefix := []byte("heads/")
	opts := kv.ScanOptions{Start: prefix, End: kv.PrefixEnd(prefix)}
	fmt.Printf("%s %s\n", opts.Start, opts.End)
	// Output: heads/ heads0
}
