package kvtest

import (
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/w3dag/w3dag/kv"
)

func testCounters(t *testing.T, b Backend) {
	s := open(t, b)
	if n := counter(t, s, "never"); n != 0 {
		t.Fatalf("counter never added to = %d, want 0", n)
	}
	update(t, s, func(tx kv.Tx) error {
		steps := []struct {
			delta int64
			want  int64
		}{
			{5, 5}, {-8, -3}, {0, -3}, {1 << 40, 1<<40 - 3}, {-(1 << 40), -3},
		}
		for _, st := range steps {
			if err := tx.Add([]byte("c"), st.delta); err != nil {
				return fmt.Errorf("Add(%d): %w", st.delta, err)
			}
			n, err := tx.Counter([]byte("c"))
			if err != nil {
				return err
			}
			if n != st.want {
				return fmt.Errorf("tx.Counter after Add(%d) in the same tx = %d, want %d", st.delta, n, st.want)
			}
		}
		return tx.Add([]byte("d"), 2)
	})
	if n := counter(t, s, "c"); n != -3 {
		t.Fatalf("counter c = %d, want -3", n)
	}
	if n := counter(t, s, "d"); n != 2 {
		t.Fatalf("counter d = %d, want 2", n)
	}
	// Counters persist across transactions and keep adding.
	for range 3 {
		update(t, s, func(tx kv.Tx) error { return tx.Add([]byte("c"), 10) })
	}
	if n := counter(t, s, "c"); n != 27 {
		t.Fatalf("counter c = %d, want 27", n)
	}
	// Binary counter keys, including ones that differ only in the last byte.
	update(t, s, func(tx kv.Tx) error {
		if err := tx.Add([]byte{0xff, 0x00}, 1); err != nil {
			return err
		}
		return tx.Add([]byte{0xff, 0x01}, 2)
	})
	view(t, s, func(tx kv.Tx) error {
		for key, want := range map[string]int64{"\xff\x00": 1, "\xff\x01": 2, "\xff": 0} {
			n, err := tx.Counter([]byte(key))
			if err != nil || n != want {
				return fmt.Errorf("Counter(%x) = %d, %v; want %d", key, n, err, want)
			}
		}
		return nil
	})
}

func testCounterNamespace(t *testing.T, b Backend) {
	s := open(t, b)
	putAll(t, s, "x", "plain")
	update(t, s, func(tx kv.Tx) error {
		if err := tx.Add([]byte("x"), 3); err != nil {
			return err
		}
		return tx.Add([]byte("only-counter"), 4)
	})
	wantValue(t, s, "x", "plain")
	wantMissing(t, s, "only-counter")
	if n := counter(t, s, "x"); n != 3 {
		t.Fatalf("counter x = %d, want 3", n)
	}
	// Scans see plain keys only.
	if got := scan(t, s, kv.ScanOptions{}); fmt.Sprint(got) != fmt.Sprint([]pair{{"x", "plain"}}) {
		t.Fatalf("scan = %v, want only the plain key", got)
	}
	// Deleting or overwriting the plain key leaves the counter alone, and the reverse.
	update(t, s, func(tx kv.Tx) error { return tx.Delete([]byte("x")) })
	if n := counter(t, s, "x"); n != 3 {
		t.Fatalf("counter x after deleting plain key x = %d, want 3", n)
	}
	update(t, s, func(tx kv.Tx) error { return tx.Put([]byte("only-counter"), []byte("v")) })
	if n := counter(t, s, "only-counter"); n != 4 {
		t.Fatalf("counter after writing a plain key of the same name = %d, want 4", n)
	}
	// A plain key holding a number is not a counter.
	putAll(t, s, "num", "17")
	if n := counter(t, s, "num"); n != 0 {
		t.Fatalf("counter num = %d, want 0 (plain key must not be read as a counter)", n)
	}
}

func testCounterRollback(t *testing.T, b Backend) {
	s := open(t, b)
	update(t, s, func(tx kv.Tx) error { return tx.Add([]byte("c"), 100) })
	errFail := errors.New("fail")
	err := s.Update(t.Context(), func(tx kv.Tx) error {
		if err := tx.Add([]byte("c"), -30); err != nil {
			return err
		}
		n, err := tx.Counter([]byte("c"))
		if err != nil {
			return err
		}
		if n != 70 {
			return fmt.Errorf("tx.Counter in the failing tx = %d, want 70", n)
		}
		return errFail
	})
	if !errors.Is(err, errFail) {
		t.Fatalf("Update returned %v, want %v", err, errFail)
	}
	if n := counter(t, s, "c"); n != 100 {
		t.Fatalf("counter after rollback = %d, want 100", n)
	}
}

// parallel runs fn(i) for i in [0, n) in n goroutines and fails the test on any error.
func parallel(t *testing.T, n int, fn func(i int) error) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			if err := fn(i); err != nil {
				errs <- fmt.Errorf("goroutine %d: %w", i, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		t.FailNow()
	}
}

func testCountersConcurrent(t *testing.T, b Backend) {
	s := open(t, b)
	const workers, rounds = 32, 5
	parallel(t, workers, func(i int) error {
		for range rounds {
			err := s.Update(t.Context(), func(tx kv.Tx) error {
				if err := tx.Add([]byte("hot"), 3); err != nil {
					return err
				}
				if err := tx.Add([]byte("hot"), -1); err != nil {
					return err
				}
				return tx.Add(fmt.Appendf(nil, "own-%d", i%4), 1)
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if n, want := counter(t, s, "hot"), int64(workers*rounds*2); n != want {
		t.Fatalf("hot counter = %d, want %d", n, want)
	}
	for j := range 4 {
		if n, want := counter(t, s, fmt.Sprintf("own-%d", j)), int64(workers/4*rounds); n != want {
			t.Fatalf("counter own-%d = %d, want %d", j, n, want)
		}
	}
}

func testConcurrentIncrements(t *testing.T, b Backend) {
	s := open(t, b)
	const workers, rounds = 8, 25
	var runs atomic.Int64
	parallel(t, workers, func(int) error {
		for range rounds {
			err := s.Update(t.Context(), func(tx kv.Tx) error {
				runs.Add(1)
				n := 0
				v, err := tx.Get([]byte("n"))
				switch {
				case errors.Is(err, kv.ErrNotFound):
				case err != nil:
					return err
				default:
					if n, err = strconv.Atoi(string(v)); err != nil {
						return fmt.Errorf("parsing %q: %w", v, err)
					}
				}
				return tx.Put([]byte("n"), strconv.AppendInt(nil, int64(n+1), 10))
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	wantValue(t, s, "n", strconv.Itoa(workers*rounds))
	t.Logf("%d read-modify-write Updates ran their function %d times", workers*rounds, runs.Load())
}

// testTransfers moves amounts between accounts in concurrent Updates while concurrent
// Views check that the total never changes.
func testTransfers(t *testing.T, b Backend) {
	s := open(t, b)
	const accounts, writers, transfers, total = 4, 4, 15, 400
	update(t, s, func(tx kv.Tx) error {
		for i := range accounts {
			if err := tx.Put(fmt.Appendf(nil, "acct/%d", i), []byte(strconv.Itoa(total/accounts))); err != nil {
				return err
			}
		}
		return nil
	})
	readAll := func(tx kv.Tx) (map[string]int, error) {
		out := map[string]int{}
		err := tx.Scan(kv.ScanOptions{Start: []byte("acct/"), End: kv.PrefixEnd([]byte("acct/"))}, func(k, v []byte) error {
			n, err := strconv.Atoi(string(v))
			if err != nil {
				return fmt.Errorf("account %q holds %q", k, v)
			}
			out[string(k)] = n
			return nil
		})
		return out, err
	}
	sum := func(m map[string]int) int {
		s := 0
		for _, v := range m {
			s += v
		}
		return s
	}

	stop := make(chan struct{})
	var readers sync.WaitGroup
	var views atomic.Int64
	readerErrs := make(chan error, 2)
	for range 2 {
		readers.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				err := s.View(t.Context(), func(tx kv.Tx) error {
					m, err := readAll(tx)
					if err != nil {
						return err
					}
					if len(m) != accounts || sum(m) != total {
						return fmt.Errorf("s.View saw accounts %v summing to %d, want %d", m, sum(m), total)
					}
					return nil
				})
				views.Add(1)
				if err != nil {
					readerErrs <- err
					return
				}
				time.Sleep(time.Millisecond)
			}
		})
	}
	parallel(t, writers, func(w int) error {
		for i := range transfers {
			from, to := (w+i)%accounts, (w+2*i+1)%accounts
			if from == to {
				to = (to + 1) % accounts
			}
			err := s.Update(t.Context(), func(tx kv.Tx) error {
				m, err := readAll(tx)
				if err != nil {
					return err
				}
				fk, tk := fmt.Sprintf("acct/%d", from), fmt.Sprintf("acct/%d", to)
				amount := min(m[fk], 7)
				if err := tx.Put([]byte(fk), []byte(strconv.Itoa(m[fk]-amount))); err != nil {
					return err
				}
				return tx.Put([]byte(tk), []byte(strconv.Itoa(m[tk]+amount)))
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	close(stop)
	readers.Wait()
	close(readerErrs)
	for err := range readerErrs {
		t.Fatal(err)
	}
	view(t, s, func(tx kv.Tx) error {
		m, err := readAll(tx)
		if err != nil {
			return err
		}
		if sum(m) != total {
			return fmt.Errorf("final accounts %v sum to %d, want %d", m, sum(m), total)
		}
		return nil
	})
	t.Logf("%d transfers with %d concurrent views", writers*transfers, views.Load())
}

// testWriteSkew checks serialisability beyond snapshot isolation: two transactions each
// read x and y and, if both are "1", set their own key to "0". Run serially, one of them
// always sees the other's write, so x and y are never both "0" afterwards. Under plain
// snapshot isolation both may commit.
func testWriteSkew(t *testing.T, b Backend) {
	s := open(t, b)
	const rounds = 8
	for round := range rounds {
		putAll(t, s, "x", "1", "y", "1")
		// A soft barrier: each transaction, after reading, waits briefly for the other
		// to have read too. Backends that run Updates one at a time never let both
		// arrive, and the wait times out; optimistic backends let both arrive, so the
		// two transactions really overlap.
		var arrived atomic.Int32
		both := make(chan struct{})
		parallel(t, 2, func(i int) error {
			own := []byte{"xy"[i]}
			return s.Update(t.Context(), func(tx kv.Tx) error {
				x, err := tx.Get([]byte("x"))
				if err != nil {
					return err
				}
				y, err := tx.Get([]byte("y"))
				if err != nil {
					return err
				}
				onX, onY := string(x) == "1", string(y) == "1"
				if arrived.Add(1) == 2 {
					close(both)
				}
				select {
				case <-both:
				case <-time.After(50 * time.Millisecond):
				}
				if onX && onY {
					return tx.Put(own, []byte("0"))
				}
				return nil
			})
		})
		x, _ := Get(t, s, "x")
		y, _ := Get(t, s, "y")
		if x == "0" && y == "0" {
			t.Fatalf("round %d: write skew: both transactions committed (x=%s y=%s)", round, x, y)
		}
		if x == "1" && y == "1" {
			t.Fatalf("round %d: neither transaction wrote (x=%s y=%s)", round, x, y)
		}
	}
}
