package carscan

import (
	"io"
	"sync"
)

// Reader passes the bytes of a stream through unchanged while Scan checks them in a
// goroutine of its own. Where the stream ends, Read returns the scan's error in place of
// io.EOF, so a consumer that keeps bytes only after io.EOF (a blob store's Put) keeps
// nothing that is not a CAR; a scan that fails earlier fails the next Read.
type Reader struct {
	r    io.Reader
	pw   *io.PipeWriter
	done chan struct{}
	once sync.Once
	res  *Result
	err  error // the scan's, set before done closes
}

// NewReader starts scanning the bytes read from r. Read it to the end (or Close it).
func NewReader(r io.Reader) *Reader {
	pr, pw := io.Pipe()
	s := &Reader{r: r, pw: pw, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		s.res, s.err = Scan(pr)
		if s.err == nil {
			s.err = io.EOF // scanned to the end: a Read must not see a scan error
		}
		pr.CloseWithError(s.err) // a failed scan fails the writer at once
	}()
	return s
}

// Read reads from the stream and hands the bytes to the scan. At the end of the stream
// it waits for the scan and returns its error, or io.EOF when the stream is a CAR.
func (s *Reader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if n > 0 {
		if _, werr := s.pw.Write(p[:n]); werr != nil {
			<-s.done
			return 0, s.scanErr()
		}
	}
	if err == io.EOF {
		s.once.Do(func() { s.pw.Close() })
		<-s.done
		if e := s.scanErr(); e != nil {
			return n, e
		}
		return n, io.EOF
	}
	return n, err
}

// scanErr is the scan's failure, nil when it succeeded.
func (s *Reader) scanErr() error {
	if s.err == io.EOF {
		return nil
	}
	return s.err
}

// Close stops the scan (the stream was not read to its end) and waits for it.
func (s *Reader) Close() error {
	s.once.Do(func() { s.pw.CloseWithError(io.ErrClosedPipe) })
	<-s.done
	return nil
}

// Result is the scan's result once Read has returned io.EOF: the CAR's roots and blocks.
// Before then, or when the scan failed, it returns nil and the error.
func (s *Reader) Result() (*Result, error) {
	select {
	case <-s.done:
	default:
		return nil, io.ErrUnexpectedEOF
	}
	if e := s.scanErr(); e != nil {
		return nil, e
	}
	return s.res, nil
}
