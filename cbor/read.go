package cbor

import "fmt"

// ReadHead reads the head of the data item at the start of b and returns its major type,
// its argument and the number of bytes the head takes.
//
// For major types 0-6 the head must be canonical DAG-CBOR: a definite length and the
// argument in its shortest form; otherwise the error is a *HeadError wrapping
// ErrNonCanonical (or ErrMalformed for input cut short or reserved additional
// information). The argument of a byte string, text string, array or map is a length
// the caller must still check against the input that remains.
//
// For major type 7 arg is the additional information (20 false, 21 true, 22 null, 23
// undefined, 24 a one-byte simple value, 25, 26 and 27 a 16-, 32- and 64-bit float) and
// n is 1: whatever follows the first byte is the caller's to read and judge.
func ReadHead(b []byte) (major byte, arg uint64, n int, err error) {
	if len(b) == 0 {
		return 0, 0, 0, &HeadError{ErrMalformed, "unexpected end of input"}
	}
	major, info := b[0]>>5, b[0]&0x1f
	if major == MajorSimple || info < 24 {
		return major, uint64(info), 1, nil
	}
	switch info {
	case 24, 25, 26, 27:
		// 1, 2, 4 or 8 big-endian argument bytes; canonical only when no shorter head fits.
		size := 1 << (info - 24)
		if len(b) < 1+size {
			return 0, 0, 0, &HeadError{ErrMalformed, "truncated head"}
		}
		for _, c := range b[1 : 1+size] {
			arg = arg<<8 | uint64(c)
		}
		if (size == 1 && arg < 24) || (size > 1 && arg>>(4*size) == 0) {
			return 0, 0, 0, &HeadError{ErrNonCanonical, fmt.Sprintf("argument %d not in its shortest form", arg)}
		}
		return major, arg, 1 + size, nil
	case 31:
		return 0, 0, 0, &HeadError{ErrNonCanonical, "indefinite-length item"}
	}
	return 0, 0, 0, &HeadError{ErrMalformed, fmt.Sprintf("reserved additional information %d", info)}
}
