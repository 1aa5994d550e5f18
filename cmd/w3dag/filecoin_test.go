package main

import (
	"bytes"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/datamodel"
	"github.com/ipld/go-ipld-prime/fluent/qp"
	"github.com/ipld/go-ipld-prime/node/basicnode"
	"github.com/multiformats/go-multihash"

	"github.com/w3dag/w3dag/piece"
)

// TestFilecoinInfo runs serve with kilobyte aggregate bounds (two 1 KiB pieces make an
// aggregate ready), stores three CARs one after the other, and reads them with `filecoin
// info` as an agent with no space and no delegation: the first two are aggregated in
// aggregate 1, whose piece CID and inclusion proofs are checked against an aggregate
// built here from the CARs' bytes; the third is computed, waiting for the next
// aggregate. An unknown CAR, a CID that is not a CAR's and a server that is not running
// give clear errors.
func TestFilecoinInfo(t *testing.T) {
	clearEnv(t)
	url, _ := runServeFlags(t, "--aggregate-min", "2032", "--aggregate-max", "4064")
	t.Setenv("W3DAG_URL", url)
	writer, reader := t.TempDir(), t.TempDir() // reader: a fresh agent, no space, no delegation
	if _, stderr, code := cli(t, "space", "new", "--config", writer); code != 0 {
		t.Fatalf("space new: %d %s", code, stderr)
	}
	var (
		cars   []string
		pieces []piece.Piece
	)
	info := func(args ...string) (string, string, int) {
		t.Helper()
		return cli(t, append([]string{"filecoin", "info", "--config", reader}, args...)...)
	}
	// waitFor polls `filecoin info CAR` until its status is want.
	waitFor := func(car, want string) string {
		t.Helper()
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
			out, stderr, code := info(car)
			if strings.Contains(out, "status             "+want+"\n") {
				if code != 0 {
					t.Fatalf("info %s: exit %d: %s %s", car, code, out, stderr)
				}
				return out
			}
			if time.Now().After(deadline) {
				t.Fatalf("info %s: not %s after a minute: exit %d: %s %s", car, want, code, out, stderr)
			}
		}
	}
	for i := range 3 {
		data := make([]byte, 1000) // a piece of 1 KiB padded, payload 1016
		fillCAR(t, data)
		file := filepath.Join(t.TempDir(), "c.car")
		if err := os.WriteFile(file, data, 0o600); err != nil {
			t.Fatal(err)
		}
		if out, stderr, code := cli(t, "store", "--config", writer, file); code != 0 {
			t.Fatalf("store %d: exit %d: %s %s", i, code, out, stderr)
		}
		car := carOf(data).String()
		p, err := piece.Compute(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		cars, pieces = append(cars, car), append(pieces, p)
		// Computed (or aggregated) before the next, so the order is known.
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
			out, _, _ := info(car)
			if strings.Contains(out, "piece              "+p.CID().String()) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("CAR %d: no piece after a minute: %s", i, out)
			}
		}
	}

	// The aggregate the service should have made of the first two pieces: the smallest
	// deal they fit with their index.
	var want *piece.Aggregate
	for d := uint64(piece.MinDealSize); want == nil; d <<= 1 {
		want, _ = piece.NewAggregate(d, pieces[:2])
	}
	wantV1, wantDeal := want.Piece().V1()
	for i := range 2 {
		out := waitFor(cars[i], "aggregated")
		v1, padded := pieces[i].V1()
		for _, line := range []string{
			"car                " + cars[i],
			"piece              " + pieces[i].CID().String(),
			"piece v1           " + v1.String(),
			"size               1000 (padded piece size " + itoa(padded) + ")",
			"aggregate          0000000000000001 (ready)",
			"aggregate piece    " + want.Piece().CID().String(),
			"aggregate v1       " + wantV1.String(),
			"deal size          " + itoa(wantDeal),
			"inclusion proof:   verified",
			"deal               no deal yet",
		} {
			if !strings.Contains(out, line+"\n") {
				t.Errorf("info of CAR %d lacks %q:\n%s", i, line, out)
			}
		}
		if i == 0 {
			t.Logf("w3dag filecoin info %s:\n%s", cars[i], out)
		}
	}
	out, stderr, code := info("--json", cars[1])
	for _, s := range []string{`"status":"aggregated"`, `"verified":true`, `"key":"0000000000000001"`,
		`"piece":{"/":"` + pieces[1].CID().String() + `"}`, `"piece":{"/":"` + want.Piece().CID().String() + `"}`} {
		if code != 0 || !strings.Contains(out, s) {
			t.Errorf("info --json: exit %d, %s lacks %s (%s)", code, out, s, stderr)
		}
	}

	// The third waits for the next aggregate.
	out = waitFor(cars[2], "computed")
	for _, line := range []string{"piece              " + pieces[2].CID().String(), "aggregate          not aggregated yet", "deal               no deal yet"} {
		if !strings.Contains(out, line) {
			t.Errorf("info of the computed CAR lacks %q:\n%s", line, out)
		}
	}
	if strings.Contains(out, "inclusion") {
		t.Errorf("a computed piece has an inclusion line:\n%s", out)
	}

	// An unknown CAR, a CID that is not a CAR's.
	unknown := carOf([]byte("never stored here")).String()
	if _, stderr, code := info(unknown); code != 1 || !strings.Contains(stderr, "no piece for "+unknown) || !strings.Contains(stderr, "never stored on this service") {
		t.Errorf("unknown CAR: exit %d, %s", code, stderr)
	}
	raw, _ := cid.V1Builder{Codec: cid.Raw, MhType: multihash.SHA2_256}.Sum([]byte("x"))
	if _, stderr, code := info(raw.String()); code != 2 || !strings.Contains(stderr, "is not a CAR CID") {
		t.Errorf("raw CID: exit %d, %s", code, stderr)
	}
	if _, stderr, code := info("not-a-cid"); code != 2 || !strings.Contains(stderr, "is not a CID") {
		t.Errorf("not a CID: exit %d, %s", code, stderr)
	}
	if _, stderr, code := cli(t, "filecoin", "infos", cars[0]); code != 2 || !strings.Contains(stderr, `unknown subcommand "infos"`) {
		t.Errorf("unknown subcommand: exit %d, %s", code, stderr)
	}

	// A service that is not running.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := "http://" + l.Addr().String()
	l.Close()
	t.Setenv("W3DAG_URL", down)
	wantErr := "w3dag filecoin info: cannot reach " + down + ": is `w3dag serve` running? (connection refused)\n"
	if _, stderr, code := info(cars[0]); code != 1 || stderr != wantErr {
		t.Errorf("server down: exit %d, %q, want %q", code, stderr, wantErr)
	}
}

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }

// TestVerifyInclusion checks the client-side verification of a piece state's proof: the
// service's proof verifies; a tampered proof, the proof of another member, another
// aggregate, a proof that does not decode and a state without a proof do not.
func TestVerifyInclusion(t *testing.T) {
	var ps []piece.Piece
	for range 3 {
		data := make([]byte, 300+len(ps)*500)
		fillCAR(t, data)
		p, err := piece.Compute(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	a, err := piece.NewAggregate(8192, ps)
	if err != nil {
		t.Fatal(err)
	}
	ac := a.Piece().CID()
	proofBytes := func(i int) []byte {
		proof, err := a.Inclusion(i)
		if err != nil {
			t.Fatal(err)
		}
		b, err := proof.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	state := func(inclusion []byte) datamodel.Node {
		n, _ := qp.BuildMap(basicnode.Prototype.Map, 2, func(ma datamodel.MapAssembler) {
			qp.MapEntry(ma, "status", qp.String("aggregated"))
			if inclusion != nil {
				qp.MapEntry(ma, "inclusion", qp.Bytes(inclusion))
			}
		})
		return n
	}
	for i, p := range ps {
		if err := verifyInclusion(ac, p.CID(), state(proofBytes(i))); err != nil {
			t.Fatalf("piece %d: %v", i, err)
		}
	}
	good := proofBytes(1)
	// Flip one bit in each byte of the proof in turn: no tampered proof verifies.
	for i := range good {
		bad := bytes.Clone(good)
		bad[i] ^= 0x01
		if err := verifyInclusion(ac, ps[1].CID(), state(bad)); err == nil {
			t.Fatalf("a proof with byte %d tampered verifies", i)
		}
	}
	if err := verifyInclusion(ac, ps[0].CID(), state(good)); err == nil {
		t.Fatal("piece 1's proof verifies piece 0")
	}
	other, err := piece.NewAggregate(16384, ps)
	if err != nil {
		t.Fatal(err)
	}
	if err := verifyInclusion(other.Piece().CID(), ps[1].CID(), state(good)); err == nil {
		t.Fatal("the proof verifies against another aggregate")
	}
	if err := verifyInclusion(ac, ps[1].CID(), state([]byte{0x82, 0x00})); err == nil || !strings.Contains(err.Error(), "decoding the inclusion proof") {
		t.Fatalf("garbage proof: %v", err)
	}
	if err := verifyInclusion(ac, ps[1].CID(), state(nil)); err == nil || !strings.Contains(err.Error(), "no inclusion proof") {
		t.Fatalf("no proof: %v", err)
	}

	// A proof that does not verify is printed as such (the command exits 1).
	info := &filecoinInfo{car: carOf([]byte("x")), status: "aggregated", piece: &ps[1],
		agg: &aggregateInfo{piece: a.Piece(), key: "0000000000000001", status: "ready", proof: errors.New("root mismatch")}}
	var out bytes.Buffer
	info.print(&out)
	if !strings.Contains(out.String(), "inclusion proof:   NOT verified: root mismatch\n") {
		t.Fatalf("printed:\n%s", out.String())
	}
	if s := dagJSON(info.node()); !strings.Contains(s, `"inclusion":{"error":"root mismatch","verified":false}`) {
		t.Fatalf("--json: %s", s)
	}
}
