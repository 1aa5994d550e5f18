package main

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/w3dag/w3dag/archive"
	blobfs "github.com/w3dag/w3dag/blob/fs"
	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/kv"
	"github.com/w3dag/w3dag/machines/piece"
	"github.com/w3dag/w3dag/machines/store"
	musage "github.com/w3dag/w3dag/machines/usage"
	"github.com/w3dag/w3dag/message"
	"github.com/w3dag/w3dag/receipts"
)

// TestEveryRanArchived stores a CAR (pending, uploaded, delivered, its piece computed by a
// task) and removes it against an in-process service, with and without
// --archive-outbox, then reads the stopped service's data folder: the invocation every
// receipt of the commit log ran — a client's or the service's own (delivery, expiry task,
// usage records, piece task) — is archived in an agent message indexed as
// invocation/<inv>/<msg>.in, and so are the schema sources it ran with.
func TestEveryRanArchived(t *testing.T) {
	clearEnv(t)
	for _, outbox := range []bool{true, false} {
		t.Run(map[bool]string{true: "outbox", false: "direct"}[outbox], func(t *testing.T) {
			data := t.TempDir()
			url, stop := startServerWith(t, data, "127.0.0.1:0", func(c *serveConfig) { c.outbox = outbox })
			link := storeSmallCAR(t, url)
			svc, _, err := loadServiceKey(filepath.Join(data, serviceKeyFile))
			if err != nil {
				t.Fatal(err)
			}
			waitFor(t, 20*time.Second, func() bool {
				out, _, code := cli(t, "get", "/"+svc.DID()+"/piece/"+link)
				return code == 0 && strings.Contains(out, "computed")
			})
			if _, stderr, code := cli(t, "rm", "store/"+link); code != 0 {
				t.Fatalf("rm: %d %s", code, stderr)
			}
			stop()

			ctx := context.Background()
			kvs, err := openKV(ctx, serveConfig{data: data, kv: "bolt"}, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			defer kvs.Close()
			blobs, err := blobfs.Open(filepath.Join(data, blobsDir), blobfs.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer blobs.Close()
			arch := archive.New(blobs, archive.Options{Outbox: kvs})
			defer arch.Close()
			sch, err := loadSchema([]string{pinsSchema(t)})
			if err != nil {
				t.Fatal(err)
			}
			e, err := dag.Open(ctx, dag.Options{KV: kvs, Signer: svc, Schema: sch})
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close()
			// The schema the service ran with is archived, with its texts.
			sets, err := arch.SchemaSets(ctx)
			if err != nil || len(sets) != 1 || sets[0].After != 0 || len(sets[0].Sources) != len(sch.Sources()) {
				t.Fatalf("schema sets %+v, %v", sets, err)
			}
			for i, src := range sch.Sources() {
				text, err := arch.Schema(ctx, sets[0].Sources[i].CID)
				if err != nil || sets[0].Sources[i].Name != src.Name || !bytes.Equal(text, src.Text) {
					t.Fatalf("schema source %d (%s): %v", i, src.Name, err)
				}
			}
			evs, err := e.Log(ctx, 0, 100000)
			if err != nil {
				t.Fatal(err)
			}
			cmds := map[string]int{}
			replies := 0
			for _, ev := range evs {
				tok, err := e.Receipt(ctx, ev.Receipt)
				if err != nil {
					t.Fatal(err)
				}
				r, err := receipts.Parse(tok)
				if err != nil {
					t.Fatal(err)
				}
				inv, err := e.Receipt(ctx, r.Ran)
				if err != nil || inv.Invocation == nil {
					t.Fatalf("%s (seq %d): ran %s: %v", ev.Path, ev.Seq, r.Ran, err)
				}
				msg := messageOf(t, kvs, r.Ran, ".in")
				if !msg.Defined() {
					t.Fatalf("%s (seq %d) ran %s (%s), which is not archived", ev.Path, ev.Seq, r.Ran, inv.Invocation.Command)
				}
				body, err := arch.Get(ctx, msg)
				if err != nil {
					t.Fatalf("message %s of %s: %v", msg, r.Ran, err)
				}
				m, err := message.Decode(body, message.Limits{})
				if err != nil {
					t.Fatalf("message %s: %v", msg, err)
				}
				if !bytes.Equal(m.Index()[r.Ran], inv.Raw) {
					t.Fatalf("message %s does not carry the invocation %s", msg, r.Ran)
				}
				if inv.Invocation.Issuer == svc.DID() {
					cmds[inv.Invocation.Command]++
				}
				// The operations the service runs with its own invocations (delivery, a
				// task's transition) have their reply archived, as a client's do.
				switch inv.Invocation.Command {
				case store.DeliverCommand, piece.ComputeCommand:
					if ev.Path.Collection == "task" {
						break // the task entry's own receipts are system writes
					}
					out := messageOf(t, kvs, r.Ran, ".out")
					if !out.Defined() {
						t.Fatalf("%s (seq %d): the reply of %s (%s) is not archived", ev.Path, ev.Seq, r.Ran, inv.Invocation.Command)
					}
					body, err := arch.Get(ctx, out)
					if err != nil {
						t.Fatal(err)
					}
					m, err := message.Decode(body, message.ReplyLimits)
					if err != nil || len(m.Receipts) != 1 || !m.Receipts[0].Invocation.Equals(r.Ran) {
						t.Fatalf("reply %s of %s: %+v, %v", out, r.Ran, m, err)
					}
					replies++
				}
			}
			for _, c := range []string{store.ExpireCommand, store.DeliverCommand, musage.Command, piece.ComputeCommand} {
				if cmds[c] == 0 {
					t.Errorf("no receipt ran a %s invocation (self-issued ran: %v)", c, cmds)
				}
			}
			if replies < 2 {
				t.Errorf("%d replies of deliveries and piece computations, want at least 2", replies)
			}
			if cmds[musage.Command] != 2 {
				t.Errorf("%d usage records, want 2 (store and remove)", cmds[musage.Command])
			}
		})
	}
}

// messageOf returns the message the invocation inv came in or was archived in (suffix
// ".in": its invocation/<inv>/<msg>.in index) or the reply that carried its receipt
// (".out"), or cid.Undef.
func messageOf(t *testing.T, kvs kv.Store, inv cid.Cid, suffix string) cid.Cid {
	t.Helper()
	var msg cid.Cid
	prefix := []byte(archive.InvocationPrefix + inv.String() + "/")
	err := kvs.View(context.Background(), func(kt kv.Tx) error {
		return kt.Scan(kv.ScanOptions{Start: prefix, End: kv.PrefixEnd(prefix)}, func(k, _ []byte) error {
			name, ok := strings.CutSuffix(string(k[len(prefix):]), suffix)
			if !ok {
				return nil
			}
			c, err := cid.Decode(name)
			if err != nil {
				return err
			}
			msg = c
			return kv.ErrStop
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

// waitFor polls cond until it holds or d has passed.
func waitFor(t *testing.T, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s", d)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestArchiveSelfOff: with --archive-self=false the service's own invocations (delivery,
// usage record, expiry task, metrics) are stored as blocks but not archived: none has an
// invocation/<inv>/<msg>.in index, while the client's invocations still do.
func TestArchiveSelfOff(t *testing.T) {
	clearEnv(t)
	data := t.TempDir()
	url, stop := startServerWith(t, data, "127.0.0.1:0", func(c *serveConfig) { c.noArchiveSelf = true })
	storeSmallCAR(t, url)
	stop()
	ctx := context.Background()
	kvs, err := openKV(ctx, serveConfig{data: data, kv: "bolt"}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer kvs.Close()
	svc, _, err := loadServiceKey(filepath.Join(data, serviceKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	sch, err := loadSchema([]string{pinsSchema(t)})
	if err != nil {
		t.Fatal(err)
	}
	e, err := dag.Open(ctx, dag.Options{KV: kvs, Signer: svc, Schema: sch})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	evs, err := e.Log(ctx, 0, 100000)
	if err != nil {
		t.Fatal(err)
	}
	self, client := 0, 0
	for _, ev := range evs {
		tok, err := e.Receipt(ctx, ev.Receipt)
		if err != nil {
			t.Fatal(err)
		}
		r, err := receipts.Parse(tok)
		if err != nil {
			t.Fatal(err)
		}
		inv, err := e.Receipt(ctx, r.Ran)
		if err != nil || inv.Invocation == nil {
			t.Fatalf("%s (seq %d): ran %s: %v", ev.Path, ev.Seq, r.Ran, err)
		}
		archived := messageOf(t, kvs, r.Ran, ".in").Defined()
		switch {
		case inv.Invocation.Issuer == svc.DID() && archived:
			t.Fatalf("%s (seq %d): the service's %s is archived with --archive-self=false", ev.Path, ev.Seq, inv.Invocation.Command)
		case inv.Invocation.Issuer == svc.DID():
			self++
		case !archived:
			t.Fatalf("%s (seq %d): the client's %s is not archived", ev.Path, ev.Seq, inv.Invocation.Command)
		default:
			client++
		}
	}
	if self == 0 || client == 0 {
		t.Fatalf("%d receipts ran the service's invocations, %d a client's; want some of both", self, client)
	}
}
