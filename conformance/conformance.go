package conformance

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	// DefaultCollection is the space collection exercised when Target.Collection is empty.
	DefaultCollection = "upload"
	// CaseTimeout bounds each case.
	CaseTimeout = 30 * time.Second
)

// Target is the service under test.
type Target struct {
	// URL is the service's base URL, e.g. http://127.0.0.1:8080. Required.
	URL string
	// ServiceDID is the DID receipts must be signed by. Empty means it is read from
	// URL/.well-known/did.json.
	ServiceDID string
	// Collection is the space collection the operations are exercised on; its input must
	// accept {"root": <link>} keyed by the root CID (like upload) unless Value is set.
	// Empty means DefaultCollection.
	Collection string
	// Value returns the key and put value of the i-th distinct entry of a test. Nil means
	// upload-like values: {"root": <a fresh raw CID>} keyed by that CID.
	Value ValueFunc
	// HTTPClient sends the requests. Nil means a client with no overall timeout.
	HTTPClient *http.Client
}

// T is what a case reports to: *testing.T satisfies it, and so does RunReport's runner.
// Fatalf ends the case (runtime.Goexit), like testing.T.
type T interface {
	Helper()
	Logf(format string, args ...any)
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
}

// Case is one named check of the suite.
type Case struct {
	Name string
	Run  func(ctx context.Context, t T, target Target)
}

// Run runs every case as a subtest of t.
func Run(t *testing.T, target Target) {
	for _, c := range Cases() {
		t.Run(c.Name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), CaseTimeout)
			defer cancel()
			c.Run(ctx, t, target)
		})
	}
}

// Result is the outcome of one case in RunReport.
type Result struct {
	Name     string
	Passed   bool
	Log      []string
	Duration time.Duration
}

// RunReport runs every case whose name contains filter ("" runs all) against target,
// writes "PASS name" or "FAIL name" with the case's log lines to w, and returns the
// results.
func RunReport(ctx context.Context, target Target, filter string, w io.Writer) []Result {
	var out []Result
	for _, c := range Cases() {
		if filter != "" && !strings.Contains(c.Name, filter) {
			continue
		}
		r := runOne(ctx, c, target)
		status := "PASS"
		if !r.Passed {
			status = "FAIL"
		}
		fmt.Fprintf(w, "%s  %-28s %s\n", status, r.Name, r.Duration.Round(time.Millisecond))
		for _, l := range r.Log {
			fmt.Fprintf(w, "      %s\n", l)
		}
		out = append(out, r)
	}
	return out
}

// runner implements T for RunReport.
type runner struct {
	mu     sync.Mutex
	failed bool
	log    []string
}

func (r *runner) Helper() {}
func (r *runner) Logf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.log = append(r.log, fmt.Sprintf(format, args...))
}
func (r *runner) Errorf(format string, args ...any) {
	r.Logf(format, args...)
	r.mu.Lock()
	r.failed = true
	r.mu.Unlock()
}
func (r *runner) Fatalf(format string, args ...any) {
	r.Errorf(format, args...)
	runtime.Goexit()
}

func runOne(ctx context.Context, c Case, target Target) Result {
	r := &runner{}
	start := time.Now()
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer func() {
			if p := recover(); p != nil {
				r.Errorf("panic: %v", p)
			}
		}()
		cctx, cancel := context.WithTimeout(ctx, CaseTimeout)
		defer cancel()
		c.Run(cctx, r, target)
	}()
	<-done
	r.mu.Lock()
	defer r.mu.Unlock()
	return Result{Name: c.Name, Passed: !r.failed, Log: r.log, Duration: time.Since(start)}
}
