package readall

import "io"

// unknownFirst is the first buffer of a body that announces no length, as io.ReadAll's.
const unknownFirst = 512

// Sized reads r to its end. Its first buffer holds announced bytes (the length r
// announces; 0 or negative: unknown, unknownFirst bytes) but at most maxFirst, so that a
// body of known length is read without growing the buffer and one announcing more than
// it sends costs no more than maxFirst; a body longer than its buffer grows it as
// io.ReadAll does. Sized bounds nothing: the caller limits r (io.LimitReader,
// http.MaxBytesReader). It returns the bytes read and the first error other than io.EOF,
// with the bytes read before it.
func Sized(r io.Reader, announced, maxFirst int64) ([]byte, error) {
	size := int64(unknownFirst)
	if announced > 0 {
		size = min(announced, maxFirst)
	}
	buf := make([]byte, 0, size+1) // +1: the read that finds the end needs no new buffer
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)] // more than announced: grow as io.ReadAll does
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}
