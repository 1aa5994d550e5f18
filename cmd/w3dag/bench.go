package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	cidlink "github.com/ipld/go-ipld-prime/linking/cid"
	"github.com/ipld/go-ipld-prime/node/basicnode"

	"github.com/w3dag/w3dag/client"
	"github.com/w3dag/w3dag/message"
	"github.com/w3dag/w3dag/ucan"
	"github.com/w3dag/w3dag/ucan/did"
)

const (
	// benchDefaultCount is how many invocations bench sends without --count or --duration.
	benchDefaultCount = 10000
	// benchMaxPerMessage is the most invocations bench puts in one message.
	benchMaxPerMessage = client.MaxInvocations
	// benchInvocationTTL keeps pre-signed invocations valid for a long run.
	benchInvocationTTL = time.Hour
)

// benchResult is the summary bench prints.
type benchResult struct {
	URL            string  `json:"url"`
	Concurrency    int     `json:"concurrency"`
	PerMessage     int     `json:"perMessage"`
	Invocations    int64   `json:"invocations"`
	Messages       int64   `json:"messages"`
	ErrorReceipts  int64   `json:"errorReceipts"`
	FailedMessages int64   `json:"failedMessages"`
	Seconds        float64 `json:"seconds"`
	PerSecond      float64 `json:"invocationsPerSecond"`
	MessagesPerSec float64 `json:"messagesPerSecond"`
	P50ms          float64 `json:"p50ms"`
	P90ms          float64 `json:"p90ms"`
	P99ms          float64 `json:"p99ms"`
	MaxMs          float64 `json:"maxMs"`
	PreSigned      bool    `json:"preSigned"`
	Verified       bool    `json:"receiptSignaturesVerified"`
	SignSeconds    float64 `json:"signSeconds"`
	FirstError     string  `json:"firstError,omitempty"`
}

// runBench implements `w3dag bench [--url URL] [--concurrency N] [--per-message N]
// [--duration D | --count N]`: dag/put throughput and latency over HTTP in a fresh space.
func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs, cf := newFlags("bench", "usage: w3dag bench [--url URL] [--concurrency N] [--per-message N] [--duration D | --count N] [--json]", stderr)
	concurrency := fs.Int("concurrency", 8, "concurrent senders (each with its own connection)")
	perMessage := fs.Int("per-message", 1, fmt.Sprintf("invocations per agent message (1..%d)", benchMaxPerMessage))
	duration := fs.Duration("duration", 0, "send for this long, signing on the fly (instead of --count)")
	count := fs.Int("count", 0, fmt.Sprintf("invocations to send, all signed before the clock starts (default %d)", benchDefaultCount))
	collection := fs.String("collection", "upload", "space collection to put into (values are {\"root\": link})")
	verify := fs.Bool("verify", false, "verify receipt signatures (client CPU inside the timed window; shape, issuer and ran are always checked)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of bench's own timed window (go tool pprof) to this file (default none)")
	pos, code, ok := parseArgs(fs, args, 0, manyArgs)
	if !ok {
		return code
	}
	if len(pos) != 0 {
		return usageError(stderr, "bench", "unexpected argument %q", pos[0])
	}
	switch {
	case *concurrency < 1:
		return usageError(stderr, "bench", "--concurrency must be at least 1")
	case *perMessage < 1 || *perMessage > benchMaxPerMessage:
		return usageError(stderr, "bench", "--per-message must be between 1 and %d", benchMaxPerMessage)
	case *duration < 0 || *count < 0:
		return usageError(stderr, "bench", "--duration and --count must not be negative")
	case *duration > 0 && *count > 0:
		return usageError(stderr, "bench", "give --duration or --count, not both")
	}
	if *duration == 0 && *count == 0 {
		*count = benchDefaultCount
	}
	res, err := bench(ctx, benchConfig{
		url: cf.serviceURL(), concurrency: *concurrency, perMessage: *perMessage,
		duration: *duration, count: *count, collection: *collection, verify: *verify, service: cf.service,
		cpuProfile: *cpuProfile,
	}, stderr)
	if err != nil {
		return fail(stderr, "bench", err)
	}
	if cf.json {
		b, _ := json.Marshal(res)
		fmt.Fprintln(stdout, string(b))
	} else {
		printBench(stdout, res)
	}
	if res.FailedMessages > 0 || res.ErrorReceipts > 0 {
		return 1
	}
	return 0
}

type benchConfig struct {
	url         string
	concurrency int
	perMessage  int
	duration    time.Duration
	count       int
	collection  string
	verify      bool
	service     string
	cpuProfile  string // file the timed window's CPU profile is written to; empty: none
}

// benchClient is a client in a fresh in-memory space: a new agent key holding a new space's
// delegation of every command.
func benchClient(url, service string, concurrency int, verify bool) (*client.Client, string, error) {
	agent, err := did.GenerateEd25519()
	if err != nil {
		return nil, "", err
	}
	space, err := did.GenerateEd25519()
	if err != nil {
		return nil, "", err
	}
	dlg, err := (&ucan.Delegation{Issuer: space.DID(), Audience: agent.DID(), Subject: space.DID(), Command: "/", Nonce: ucan.NewNonce()}).Seal(space, ucan.SealOptions{})
	if err != nil {
		return nil, "", err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = concurrency * 2
	tr.MaxIdleConnsPerHost = concurrency * 2
	c, err := client.New(client.Options{
		URL: url, ServiceDID: service, Signer: agent, Proofs: []*ucan.Token{dlg},
		HTTPClient: &http.Client{Transport: tr}, InvocationTTL: benchInvocationTTL,
		SkipSignatures: !verify,
	})
	return c, space.DID(), err
}

// benchInvocation seals a put of a fresh upload-like value.
func benchInvocation(ctx context.Context, c *client.Client, base string) (*client.Invocation, error) {
	b := make([]byte, 32)
	rand.Read(b)
	root := message.Sum(message.CodecRaw, b)
	nb := basicnode.Prototype.Map.NewBuilder()
	ma, _ := nb.BeginMap(1)
	_ = ma.AssembleKey().AssignString("root")
	_ = ma.AssembleValue().AssignLink(cidlink.Link{Cid: root})
	_ = ma.Finish()
	return c.NewInvocation(ctx, client.CmdPut, base+"/"+root.String(), client.Args{"value": nb.Build()})
}

// presign seals n invocations using every CPU.
func presign(ctx context.Context, c *client.Client, base string, n int) ([]*client.Invocation, error) {
	out := make([]*client.Invocation, n)
	var next atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				inv, err := benchInvocation(ctx, c, base)
				if err != nil {
					once.Do(func() { firstErr = err })
					return
				}
				out[i] = inv
			}
		}()
	}
	wg.Wait()
	return out, firstErr
}

func bench(ctx context.Context, cfg benchConfig, stderr io.Writer) (*benchResult, error) {
	c, space, err := benchClient(cfg.url, cfg.service, cfg.concurrency, cfg.verify)
	if err != nil {
		return nil, err
	}
	if _, err := c.ServiceDID(ctx); err != nil {
		return nil, err
	}
	base := "/" + space + "/" + cfg.collection
	res := &benchResult{URL: c.URL(), Concurrency: cfg.concurrency, PerMessage: cfg.perMessage, Verified: cfg.verify}

	// Work: batches of pre-signed invocations (--count), or batches signed on demand.
	var batches chan []*client.Invocation
	var signNanos atomic.Int64
	if cfg.count > 0 {
		res.PreSigned = true
		fmt.Fprintf(stderr, "bench: signing %d invocations…\n", cfg.count)
		start := time.Now()
		invs, err := presign(ctx, c, base, cfg.count)
		if err != nil {
			return nil, err
		}
		res.SignSeconds = time.Since(start).Seconds()
		batches = make(chan []*client.Invocation, len(invs)/cfg.perMessage+1)
		for i := 0; i < len(invs); i += cfg.perMessage {
			batches <- invs[i:min(i+cfg.perMessage, len(invs))]
		}
		close(batches)
	}

	runCtx := ctx
	if cfg.duration > 0 {
		var cancel context.CancelFunc
		runCtx, cancel = context.WithTimeout(ctx, cfg.duration)
		defer cancel()
	}
	var (
		mu        sync.Mutex
		latencies []time.Duration
		invsDone  atomic.Int64
		msgsDone  atomic.Int64
		errRcpts  atomic.Int64
		failed    atomic.Int64
		firstErr  string
		wg        sync.WaitGroup
	)
	note := func(s string) {
		mu.Lock()
		if firstErr == "" {
			firstErr = s
		}
		mu.Unlock()
	}
	var stopProfile func() error
	if cfg.cpuProfile != "" {
		if stopProfile, err = startCPUProfile(cfg.cpuProfile); err != nil {
			return nil, err
		}
	}
	start := time.Now()
	for range cfg.concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var local []time.Duration
			defer func() {
				mu.Lock()
				latencies = append(latencies, local...)
				mu.Unlock()
			}()
			for runCtx.Err() == nil {
				var batch []*client.Invocation
				if batches != nil {
					var ok bool
					if batch, ok = <-batches; !ok {
						return
					}
				} else {
					s := time.Now()
					for range cfg.perMessage {
						inv, err := benchInvocation(runCtx, c, base)
						if err != nil {
							note(err.Error())
							return
						}
						batch = append(batch, inv)
					}
					signNanos.Add(int64(time.Since(s)))
				}
				t0 := time.Now()
				rs, err := c.Send(runCtx, batch...)
				lat := time.Since(t0)
				if err != nil {
					if runCtx.Err() != nil && cfg.duration > 0 {
						return // the clock ran out mid-message
					}
					failed.Add(1)
					note(err.Error())
					continue
				}
				for _, r := range rs {
					if r.Error != nil {
						errRcpts.Add(1)
						note(r.Error.Error())
					}
				}
				local = append(local, lat)
				msgsDone.Add(1)
				invsDone.Add(int64(len(batch)))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if stopProfile != nil {
		if err := stopProfile(); err != nil {
			return nil, err
		}
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if !res.PreSigned {
		res.SignSeconds = time.Duration(signNanos.Load()).Seconds()
	}
	res.Invocations, res.Messages = invsDone.Load(), msgsDone.Load()
	res.ErrorReceipts, res.FailedMessages = errRcpts.Load(), failed.Load()
	res.FirstError = firstErr
	res.Seconds = elapsed.Seconds()
	if res.Seconds > 0 {
		res.PerSecond = float64(res.Invocations) / res.Seconds
		res.MessagesPerSec = float64(res.Messages) / res.Seconds
	}
	slices.Sort(latencies)
	res.P50ms, res.P90ms, res.P99ms = pct(latencies, 50), pct(latencies, 90), pct(latencies, 99)
	if len(latencies) > 0 {
		res.MaxMs = ms(latencies[len(latencies)-1])
	}
	if res.Messages == 0 && firstErr != "" {
		return nil, errors.New(firstErr)
	}
	return res, nil
}

// startCPUProfile profiles this process's CPU into a new file at path until stop is
// called; stop's error is the file's (a profile not all written).
func startCPUProfile(path string) (stop func() error, err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	return func() error {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			return fmt.Errorf("--cpuprofile: %w", err)
		}
		return nil
	}, nil
}

// pct is the p-th percentile (nearest rank) of sorted durations, in milliseconds.
func pct(sorted []time.Duration, p int) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := (len(sorted)*p + 99) / 100
	return ms(sorted[max(i-1, 0)])
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func printBench(w io.Writer, r *benchResult) {
	fmt.Fprintf(w, "target        %s\n", r.URL)
	fmt.Fprintf(w, "concurrency   %d senders, %d invocations a message\n", r.Concurrency, r.PerMessage)
	fmt.Fprintf(w, "sent          %d invocations in %d messages in %.2fs\n", r.Invocations, r.Messages, r.Seconds)
	fmt.Fprintf(w, "throughput    %.0f invocations/s (%.0f messages/s)\n", r.PerSecond, r.MessagesPerSec)
	fmt.Fprintf(w, "latency       p50 %.2fms  p90 %.2fms  p99 %.2fms  max %.2fms (per message)\n", r.P50ms, r.P90ms, r.P99ms, r.MaxMs)
	if r.PreSigned {
		fmt.Fprintf(w, "signing       %.2fs before the clock started (not included)\n", r.SignSeconds)
	} else {
		fmt.Fprintf(w, "signing       %.2fs of sender time on the fly (included in throughput, not in latency)\n", r.SignSeconds)
	}
	if r.Verified {
		fmt.Fprintln(w, "receipts      signatures verified inside the timed window")
	} else {
		fmt.Fprintln(w, "receipts      shape, issuer and ran checked; signatures not verified (--verify to include)")
	}
	if r.ErrorReceipts > 0 || r.FailedMessages > 0 {
		fmt.Fprintf(w, "errors        %d error receipts, %d failed messages; first: %s\n", r.ErrorReceipts, r.FailedMessages, r.FirstError)
	}
}
