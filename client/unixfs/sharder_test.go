package unixfs_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	blocks "github.com/ipfs/go-block-format"

	"github.com/w3dag/w3dag/client/unixfs"
)

// TestSharderErrors: the Sharder writes shards on a goroutine of its own, so an error of
// the done callback surfaces from a later Add or from Close, an aborted or failed Sharder
// leaves no shard file behind, and a closed Sharder refuses more blocks.
func TestSharderErrors(t *testing.T) {
	errDone := errors.New("done failed")
	blk := func(i int) blocks.Block { return blocks.NewBlock([]byte{byte(i), byte(i >> 8), 1, 2, 3}) }
	cases := []struct {
		name   string
		blocks int
		abort  bool
		done   error
		want   error // from Add or Close
		shards int   // handed to done
	}{
		{name: "ok", blocks: 200, shards: 10}, // 9 × 21 blocks, then 11
		{name: "done fails", blocks: 200, done: errDone, want: errDone, shards: 1},
		{name: "abort", blocks: 30, abort: true, shards: 1},
		{name: "empty", blocks: 0, shards: 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			var got []unixfs.Shard
			// a block section is 1 varint + 34 CID (v0) + 5 data bytes = 40 bytes, the header
			// 57: 21 blocks fit a shard of 900 bytes
			s := unixfs.NewSharder(dir, 900, func(sh unixfs.Shard) error {
				got = append(got, sh)
				if c.done != nil {
					os.Remove(sh.Path)
					return c.done
				}
				return nil
			})
			var err error
			for i := 0; i < c.blocks && err == nil; i++ {
				err = s.Add(blk(i))
			}
			if c.abort {
				s.Abort()
			} else if cerr := s.Close(); err == nil {
				err = cerr
			}
			if !errors.Is(err, c.want) {
				t.Fatalf("error %v, want %v", err, c.want)
			}
			if len(got) != c.shards {
				t.Fatalf("%d shards, want %d", len(got), c.shards)
			}
			files, _ := os.ReadDir(dir)
			want := 0
			if c.done == nil {
				want = len(got)
			}
			if len(files) != want {
				t.Fatalf("%d files left in the directory, want %d", len(files), want)
			}
			for i, sh := range got {
				want := 21
				if i == 9 {
					want = 11
				}
				if sh.N != i+1 || sh.Blocks != want || sh.Size != 57+40*int64(want) || !sh.CID.Defined() {
					t.Fatalf("shard %d: %+v", i, sh)
				}
			}
			if err := s.Add(blk(0)); !errors.Is(err, unixfs.ErrSharderClosed) {
				t.Fatalf("Add after close: %v", err)
			}
		})
	}
}

// TestViewSharder: a view shard's reader gives exactly the bytes the file-spooling
// Sharder writes for the same import (so the same CAR CIDs), holds no file bytes in
// memory, and fails with ErrFileChanged when a file got shorter after the import.
func TestViewSharder(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src.bin")
	data := make([]byte, 5*unixfs.ChunkSize+12345)
	rand.NewChaCha8([32]byte{1}).Read(data)
	copy(data[3*unixfs.ChunkSize:], data[:unixfs.ChunkSize]) // a repeated chunk: emitted once
	if err := os.WriteFile(src, data, 0o644); err != nil {
		t.Fatal(err)
	}
	files, err := unixfs.List([]string{src}, unixfs.Options{NoWrap: true})
	if err != nil {
		t.Fatal(err)
	}
	const shardSize = 2*unixfs.ChunkSize + 4096
	importAll := func(s *unixfs.Sharder) {
		t.Helper()
		if _, err := unixfs.Import(context.Background(), files, unixfs.Options{NoWrap: true}, s.Add); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	var spooled, views []unixfs.Shard
	spool := t.TempDir()
	importAll(unixfs.NewSharder(spool, shardSize, func(sh unixfs.Shard) error { spooled = append(spooled, sh); return nil }))
	importAll(unixfs.NewViewSharder(shardSize, func(sh unixfs.Shard) error { views = append(views, sh); return nil }))
	if len(views) != len(spooled) || len(views) < 3 {
		t.Fatalf("%d view shards, %d spooled", len(views), len(spooled))
	}
	for i, v := range views {
		want, err := os.ReadFile(spooled[i].Path)
		if err != nil {
			t.Fatal(err)
		}
		var inMemory int
		for _, p := range v.Parts {
			inMemory += len(p.Data)
		}
		if inMemory > 4096 {
			t.Fatalf("shard %d keeps %d bytes in memory", v.N, inMemory)
		}
		// read, and written to a writer with ReadFrom (as a TCP connection, which sends
		// the file ranges with sendfile) after a first small read
		for _, how := range []string{"read", "write to"} {
			r, err := v.NewReader()
			if err != nil {
				t.Fatal(err)
			}
			var got []byte
			if how == "read" {
				got, err = io.ReadAll(r)
			} else {
				first := make([]byte, 100)
				if _, err = io.ReadFull(r, first); err == nil {
					if left := r.(interface{ Remaining() int64 }).Remaining(); left != int64(len(want)-100) {
						t.Fatalf("shard %d: %d bytes remaining after 100 of %d", v.N, left, len(want))
					}
					var buf bytes.Buffer
					buf.Write(first)
					_, err = r.(io.WriterTo).WriteTo(&buf)
					got = buf.Bytes()
				}
			}
			r.Close()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) || v.CID != spooled[i].CID || v.Size != int64(len(got)) {
				t.Fatalf("shard %d, %s: %d bytes %s, want %d bytes %s", v.N, how, len(got), v.CID, len(want), spooled[i].CID)
			}
		}
	}
	if err := os.Truncate(src, int64(len(data))-1); err != nil {
		t.Fatal(err)
	}
	for _, how := range []string{"read", "write to"} {
		r, err := views[len(views)-1].NewReader()
		if err != nil {
			t.Fatal(err)
		}
		if how == "read" {
			_, err = io.ReadAll(r)
		} else {
			_, err = r.(io.WriterTo).WriteTo(&bytes.Buffer{})
		}
		r.Close()
		if !errors.Is(err, unixfs.ErrFileChanged) {
			t.Fatalf("%s a shard of a shortened file: %v, want ErrFileChanged", how, err)
		}
	}
}
