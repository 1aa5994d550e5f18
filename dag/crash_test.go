package dag_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/kv"
	"github.com/w3dag/w3dag/kv/bolt"
	"github.com/w3dag/w3dag/kv/pebble"
	"github.com/w3dag/w3dag/receipts"
	"github.com/w3dag/w3dag/schema"
	"github.com/w3dag/w3dag/ucan"
	"github.com/w3dag/w3dag/ucan/did"
)

const crashEnv = "W3DAG_DAG_CRASH_CHILD"

func crashSigner(t testing.TB, b byte) did.Signer {
	seed := make([]byte, 32)
	seed[0] = b
	s, err := did.Ed25519FromSeed(seed)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// openCrashStore opens the store the crash test runs on: a pebble directory when path
// ends in ".pebble", a bolt file otherwise.
func openCrashStore(t testing.TB, path string) kv.Store {
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

func openCrashEngine(t testing.TB, file string) (*dag.Engine, kv.Store) {
	st := openCrashStore(t, file)
	sch, err := schema.Load([]byte(notesExt))
	if err != nil {
		t.Fatal(err)
	}
	e, err := dag.Open(context.Background(), dag.Options{KV: st, Signer: crashSigner(t, 1), Schema: sch, Collections: testCollections()})
	if err != nil {
		t.Fatal(err)
	}
	return e, st
}

// crashChild runs concurrent puts and removes and prints each acknowledged one, until it
// is killed.
func crashChild(t *testing.T, file string) {
	e, _ := openCrashEngine(t, file)
	agent := crashSigner(t, 2)
	ctx := context.Background()
	var mu sync.Mutex
	ack := func(op, key string, c cid.Cid) {
		mu.Lock()
		fmt.Fprintf(os.Stdout, "ack %s %s %s\n", op, key, c)
		mu.Unlock()
	}
	deadline := time.Now().Add(60 * time.Second)
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; time.Now().Before(deadline); i++ {
				p := must(dag.ParseRelative(agent.DID(), fmt.Sprintf("notes/w%d-%d", w, i)))
				inv := &ucan.Invocation{Issuer: agent.DID(), Subject: agent.DID(), Command: "/dag/put", Args: pathArgs(p, note("x")), Nonce: ucan.NewNonce()}
				res, err := e.Put(ctx, must(inv.Seal(agent, ucan.SealOptions{})), p, note(fmt.Sprint(i)))
				if err != nil || res.Err != nil {
					fmt.Fprintln(os.Stderr, "put failed:", err, res)
					os.Exit(3)
				}
				ack("put", p.Key, res.Receipt.CID)
				if i%3 == 0 {
					inv := &ucan.Invocation{Issuer: agent.DID(), Subject: agent.DID(), Command: "/dag/remove", Args: pathArgs(p, nil), Nonce: ucan.NewNonce()}
					res, err := e.Remove(ctx, must(inv.Seal(agent, ucan.SealOptions{})), p)
					if err != nil || res.Err != nil {
						fmt.Fprintln(os.Stderr, "remove failed:", err, res)
						os.Exit(3)
					}
					ack("rm", p.Key, res.Receipt.CID)
				}
			}
		}()
	}
	wg.Wait()
	os.Exit(0)
}

// TestCrash runs concurrent puts and removes in a child process on each embedded kv
// backend, kills it with SIGKILL under load, and checks that every acknowledged operation
// survived and the commit log is whole.
func TestCrash(t *testing.T) {
	if file := os.Getenv(crashEnv); file != "" {
		crashChild(t, file)
		return
	}
	if testing.Short() {
		t.Skip("crash test re-executes the test binary")
	}
	for _, b := range []struct{ name, file string }{{"bolt", "crash.db"}, {"pebble", "crash.pebble"}} {
		t.Run(b.name, func(t *testing.T) { testCrash(t, b.file) })
	}
}

func testCrash(t *testing.T, name string) {
	file := filepath.Join(t.TempDir(), name)
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrash$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashEnv+"="+file)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	type acked struct{ op, key, receipt string }
	var acks []acked
	sc := bufio.NewScanner(out)
	killAt := time.Now().Add(3 * time.Second)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 4 && f[0] == "ack" {
			acks = append(acks, acked{f[1], f[2], f[3]})
		}
		if len(acks) >= 1500 || time.Now().After(killAt) {
			break
		}
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// Read what was printed before the kill landed: those puts were acknowledged too.
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 4 && f[0] == "ack" {
			acks = append(acks, acked{f[1], f[2], f[3]})
		}
	}
	cmd.Wait()
	if len(acks) < 50 {
		t.Fatalf("only %d acknowledged operations before the kill", len(acks))
	}
	t.Logf("%d acknowledged operations before SIGKILL", len(acks))

	e, st := openCrashEngine(t, file)
	defer st.Close()
	defer e.Close()
	ctx := context.Background()
	agent := crashSigner(t, 2)
	// Every acknowledged operation is in its entry's chain.
	chains := map[string]map[string]bool{}
	for _, a := range acks {
		if chains[a.key] == nil {
			p := must(dag.ParseRelative(agent.DID(), "notes/"+a.key))
			ent, err := e.Entry(ctx, p)
			if err != nil {
				t.Fatalf("acknowledged %s %s lost: %v", a.op, a.key, err)
			}
			set := map[string]bool{}
			err = e.Chain(ctx, ent.Head, func(tok *ucan.Token, r *receipts.Receipt) error {
				set[tok.CID.String()] = true
				return nil
			})
			if err != nil {
				t.Fatalf("chain of %s: %v", a.key, err)
			}
			chains[a.key] = set
		}
		if !chains[a.key][a.receipt] {
			t.Fatalf("acknowledged %s of %s (receipt %s) is not in its chain", a.op, a.key, a.receipt)
		}
	}
	// The commit log has no gaps and every record's entry chain verifies.
	last := must(e.LastSeq(ctx))
	var seq uint64
	paths := map[string]dag.Path{}
	for {
		evs := must(e.Log(ctx, seq, 1000))
		if len(evs) == 0 {
			break
		}
		for _, ev := range evs {
			if ev.Seq != seq+1 {
				t.Fatalf("gap in commit log: %d after %d", ev.Seq, seq)
			}
			seq = ev.Seq
			paths[ev.Path.String()] = ev.Path
			if _, err := e.Block(ctx, ev.Receipt); err != nil {
				t.Fatalf("log record %d: receipt missing", ev.Seq)
			}
		}
	}
	if seq != last {
		t.Fatalf("log ends at %d, last seq %d", seq, last)
	}
	t.Logf("commit log of %d records verified", last)
	for _, p := range paths {
		ent := must(e.Entry(ctx, p))
		n := 0
		err := e.Chain(ctx, ent.Head, func(*ucan.Token, *receipts.Receipt) error { n++; return nil })
		if err != nil || n == 0 {
			t.Fatalf("chain of %s: %v", p, err)
		}
	}
	// The engine keeps working after recovery.
	p := must(dag.ParseRelative(agent.DID(), "notes/after-crash"))
	inv := &ucan.Invocation{Issuer: agent.DID(), Subject: agent.DID(), Command: "/dag/put", Args: pathArgs(p, note("x")), Nonce: ucan.NewNonce()}
	res, err := e.Put(ctx, must(inv.Seal(agent, ucan.SealOptions{})), p, note("x"))
	if err != nil || res.Err != nil || res.Entry.Seq != last+1 {
		t.Fatalf("put after recovery: %v %+v", err, res)
	}
}
