package blobtest

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/w3dag/w3dag/blob"
)

func testPutGetStat(t *testing.T, st blob.Store) {
	ctx := ctxT(t)
	data := randomBytes(1, 1000)
	key := "carpark/bafy1/bafy1.car"
	before := time.Now()
	mustPut(t, st, key, data)
	mustHold(t, st, key, data)
	info, err := st.Stat(ctx, key)
	if err != nil {
		t.Fatalf("Stat: %v", err)
	}
	if info.Key != key || info.Size != int64(len(data)) {
		t.Fatalf("Stat = %+v, want key %q size %d", info, key, len(data))
	}
	// Allow for coarse file-system and server clocks.
	if info.Modified.Before(before.Add(-time.Hour)) || info.Modified.After(time.Now().Add(time.Hour)) {
		t.Fatalf("Stat Modified = %v, not near now (%v)", info.Modified, before)
	}

	// Unknown size and no digest: stored as read.
	other := randomBytes(2, 4097)
	if err := st.Put(ctx, "x=1/y_2.z-3", bytes.NewReader(other), blob.PutOptions{Size: -1}); err != nil {
		t.Fatalf("Put with unknown size: %v", err)
	}
	mustHold(t, st, "x=1/y_2.z-3", other)

	// The empty blob.
	if err := st.Put(ctx, "empty", bytes.NewReader(nil), blob.PutOptions{SHA256: digest(nil)}); err != nil {
		t.Fatalf("Put empty: %v", err)
	}
	mustHold(t, st, "empty", []byte{})
	if info, err := st.Stat(ctx, "empty"); err != nil || info.Size != 0 {
		t.Fatalf("Stat(empty) = %+v, %v", info, err)
	}
}

func testReplace(t *testing.T, st blob.Store) {
	v1, v2 := randomBytes(3, 300), randomBytes(4, 200)
	mustPut(t, st, "k", v1)
	mustPut(t, st, "k", v2)
	mustHold(t, st, "k", v2)
}

func testNotFound(t *testing.T, st blob.Store) {
	mustBeAbsent(t, st, "no/such/blob")
	if err := st.Delete(ctxT(t), "no/such/blob"); err != nil {
		t.Fatalf("Delete of a missing key: %v", err)
	}
	if err := getErr(ctxT(t), st, "no/such/blob", &blob.Range{Start: 0, End: 1}); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("ranged Get of a missing key: %v, want ErrNotFound", err)
	}
}

func testDelete(t *testing.T, st blob.Store) {
	ctx := ctxT(t)
	data := randomBytes(5, 100)
	mustPut(t, st, "d/e/f", data)
	mustPut(t, st, "d/g", data)
	if err := st.Delete(ctx, "d/e/f"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	mustBeAbsent(t, st, "d/e/f")
	mustHold(t, st, "d/g", data)
	if got := listKeys(t, st, ""); !slices.Equal(got, []string{"d/g"}) {
		t.Fatalf("List after Delete = %q, want [d/g]", got)
	}
	if err := st.Delete(ctx, "d/e/f"); err != nil {
		t.Fatalf("second Delete: %v", err)
	}
	mustPut(t, st, "d/e/f", data)
	mustHold(t, st, "d/e/f", data)
}

func testConcurrent(t *testing.T, st blob.Store) {
	const (
		writers = 4
		rounds  = 3
		size    = 256 << 10
	)
	key := "con/current"
	valid := map[[32]byte]bool{}
	versions := make([][]byte, writers)
	for i := range versions {
		versions[i] = randomBytes(uint64(200+i), size+i)
		valid[sha256.Sum256(versions[i])] = true
	}
	mustPut(t, st, key, versions[0])

	ctx := ctxT(t)
	stop := make(chan struct{})
	errs := make(chan error, writers*rounds+16)
	var readers, wg sync.WaitGroup
	for range 2 {
		readers.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				rc, _, err := st.Get(ctx, key, nil)
				if err != nil {
					errs <- fmt.Errorf("st.Get during concurrent Puts: %w", err)
					return
				}
				b, err := io.ReadAll(rc)
				rc.Close()
				if err != nil {
					errs <- fmt.Errorf("reading during concurrent Puts: %w", err)
					return
				}
				if !valid[sha256.Sum256(b)] {
					errs <- fmt.Errorf("st.Get during concurrent Puts returned %d bytes that are none of the blobs put", len(b))
					return
				}
			}
		})
	}
	for w := range writers {
		wg.Go(func() {
			for range rounds {
				if err := st.Put(ctx, key, bytes.NewReader(versions[w]), exact(versions[w])); err != nil {
					errs <- fmt.Errorf("concurrent Put: %w", err)
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	readers.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	got, _ := mustGet(t, st, key, nil)
	if !valid[sha256.Sum256(got)] {
		t.Fatalf("after concurrent Puts the blob is none of the versions put")
	}
	if keys := listKeys(t, st, ""); !slices.Equal(keys, []string{key}) {
		t.Fatalf("after concurrent Puts List = %q, want only %q (no leftovers)", keys, key)
	}
}
