package machinestest_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"

	"github.com/w3dag/w3dag/collection"
	"github.com/w3dag/w3dag/kv"
	"github.com/w3dag/w3dag/kv/bolt"
	"github.com/w3dag/w3dag/kv/pebble"
	"github.com/w3dag/w3dag/machines/machinestest"
	"github.com/w3dag/w3dag/ucan/did"
)

const crashEnv = "W3DAG_MACHINES_CRASH_CHILD"

func seededSigner(t testing.TB, b byte) did.Signer {
	seed := make([]byte, 32)
	seed[0], seed[1] = b, 0x5a
	s, err := did.Ed25519FromSeed(seed)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// openCrashStore opens the store the crash test runs on: a pebble directory when path
// ends in ".pebble", a bolt file otherwise.
func openCrashStore(t *testing.T, path string) kv.Store {
	if strings.HasSuffix(path, ".pebble") {
		st, err := pebble.Open(path, pebble.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	st, err := bolt.Open(path, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// crashWorld builds the same spaces, blobs and sizes in the child and the parent.
func crashWorld(t *testing.T, file string, start time.Time) *world {
	st := openCrashStore(t, file)
	t.Cleanup(func() { st.Close() })
	c := &clock{now: start}
	rng := rand.New(rand.NewPCG(7, 11))
	w := &world{t: t, rng: rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1)), clock: c, file: file, sizes: map[string]int64{}}
	w.v = machinestest.Open(t, st, seededSigner(t, 1), nil, c.Now)
	car := func(s string) cid.Cid {
		h := sha256.Sum256([]byte(s))
		mh, _ := multihash.Encode(h[:], multihash.SHA2_256)
		return cid.NewCidV1(collection.CodecCAR, mh)
	}
	shared := car("shared")
	for i := range 3 {
		o := seededSigner(t, byte(10+i))
		w.owners = append(w.owners, o)
		bs := []cid.Cid{shared}
		for j := range 4 {
			bs = append(bs, car(fmt.Sprintf("blob-%d-%d", i, j)))
		}
		for _, b := range bs {
			w.sizes[o.DID()+"/"+b.String()] = 1 + rng.Int64N(1<<20)
		}
		w.blobs = append(w.blobs, bs)
	}
	w.newRunner()
	return w
}

var crashStart = time.UnixMilli(1_760_000_000_000)

// crashChild runs concurrent random operations (fsync on every commit) until killed,
// advancing its clock as it goes.
func crashChild(t *testing.T, file string) {
	w := crashWorld(t, file, crashStart)
	ctx := context.Background()
	go func() {
		for {
			time.Sleep(time.Millisecond)
			w.clock.Add(time.Duration(rand.IntN(40)) * time.Millisecond)
		}
	}()
	fmt.Println("started")
	for i := 0; ; i++ {
		var err error
		if i%5 == 4 {
			s := w.rng.IntN(len(w.owners))
			err = w.concurrentSame(ctx, s, w.rng.IntN(len(w.blobs[s])), 4)
		} else {
			err = w.concurrentMixed(ctx, 12)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(3)
		}
		if i%20 == 0 {
			fmt.Println("batch", i)
		}
	}
}

// TestUsageCrash kills a child process running concurrent stores, removals and uploads
// with SIGKILL (on bolt and on pebble), reopens its store and checks that usage and metrics still equal the
// brute-force recomputation from the commit log (no double count, no lost decrement:
// each change and its usage record and counters commit together or not at all), then
// goes on and checks again.
func TestUsageCrash(t *testing.T) {
	if file := os.Getenv(crashEnv); file != "" {
		crashChild(t, file)
		return
	}
	if testing.Short() {
		t.Skip("crash test re-executes the test binary")
	}
	for _, b := range []struct{ name, file string }{{"bolt", "crash.db"}, {"pebble", "crash.pebble"}} {
		t.Run(b.name, func(t *testing.T) { testUsageCrash(t, b.file) })
	}
}

func testUsageCrash(t *testing.T, name string) {
	file := filepath.Join(t.TempDir(), name)
	cmd := exec.Command(os.Args[0], "-test.run=^TestUsageCrash$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashEnv+"="+file)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	var seen strings.Builder
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(seen.String(), "batch 20") && time.Now().Before(deadline) {
		n, err := out.Read(buf)
		seen.Write(buf[:n])
		if err != nil {
			break
		}
	}
	time.Sleep(time.Duration(100+rand.IntN(400)) * time.Millisecond)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	if !strings.Contains(seen.String(), "batch 20") {
		t.Fatalf("child did not get going: %q", seen.String())
	}

	w := crashWorld(t, file, crashStart.Add(24*time.Hour))
	ctx := context.Background()
	last, err := w.v.E.LastSeq(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d commits before SIGKILL", last)
	w.check(ctx, crashStart.UnixMilli())
	for range 20 {
		w.clock.Add(time.Duration(w.rng.IntN(3000)) * time.Millisecond)
		if err := w.concurrentMixed(ctx, 6); err != nil {
			t.Fatal(err)
		}
	}
	w.check(ctx, crashStart.UnixMilli())
}
