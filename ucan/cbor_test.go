package ucan

import (
	"errors"
	"testing"
)

// TestDecoderHead checks each argument width at its shortest-form boundary and truncation.
func TestDecoderHead(t *testing.T) {
	tests := []struct {
		name    string
		in      []byte
		wantArg uint64
		wantErr error
	}{
		{"immediate", []byte{0x17}, 23, nil},
		{"1-byte-min", []byte{0x18, 24}, 24, nil},
		{"1-byte-short", []byte{0x18, 23}, 0, ErrNonCanonical},
		{"2-byte-min", []byte{0x19, 0x01, 0x00}, 0x100, nil},
		{"2-byte-short", []byte{0x19, 0x00, 0xff}, 0, ErrNonCanonical},
		{"4-byte-min", []byte{0x1a, 0x00, 0x01, 0x00, 0x00}, 0x10000, nil},
		{"4-byte-short", []byte{0x1a, 0x00, 0x00, 0xff, 0xff}, 0, ErrNonCanonical},
		{"8-byte-min", []byte{0x1b, 0, 0, 0, 1, 0, 0, 0, 0}, 1 << 32, nil},
		{"8-byte-max", []byte{0x1b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, 1<<64 - 1, nil},
		{"8-byte-short", []byte{0x1b, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff}, 0, ErrNonCanonical},
		{"truncated-2", []byte{0x19, 0x01}, 0, ErrMalformed},
		{"truncated-8", []byte{0x1b, 0, 0, 0, 1, 0, 0, 0}, 0, ErrMalformed},
		{"indefinite", []byte{0x9f}, 0, ErrNonCanonical},
		{"reserved", []byte{0x1c}, 0, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := decoder{b: tt.in}
			_, arg, err := d.head()
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("head(% x) error = %v, want %v", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil || arg != tt.wantArg || d.pos != len(tt.in) {
				t.Fatalf("head(% x) = %d, %v (pos %d), want %d (pos %d)", tt.in, arg, err, d.pos, tt.wantArg, len(tt.in))
			}
		})
	}
}
