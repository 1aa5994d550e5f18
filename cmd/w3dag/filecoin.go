package main

// filecoin.go: `w3dag filecoin info CAR-CID`, the Filecoin side of a stored CAR as the
// service records it: its piece (/<service>/piece/<CAR CID>), the aggregate the piece
// joined (/<service>/aggregate/<key>), the piece's inclusion proof, verified here against
// the aggregate's piece CID, and the deal.

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/datamodel"
	cidlink "github.com/ipld/go-ipld-prime/linking/cid"
	"github.com/ipld/go-ipld-prime/node/basicnode"

	"github.com/w3dag/w3dag/client"
	"github.com/w3dag/w3dag/collection"
	"github.com/w3dag/w3dag/machines/aggregate"
	piecemachine "github.com/w3dag/w3dag/machines/piece"
	"github.com/w3dag/w3dag/piece"
)

const filecoinUsage = `usage: w3dag filecoin info [--json] CAR-CID
  Show the Filecoin side of a CAR stored on the service: its piece
  (/<service DID>/piece/<CAR-CID>: status, v2 piece CID, v1 CID, payload and padded
  size); once aggregated, its aggregate (/<service DID>/aggregate/<key>: status and
  piece CID) and its inclusion proof, verified here against the aggregate's piece CID;
  and the deal. The service's piece and aggregate collections are public: no
  delegation is needed. Exits 1 if the CAR has no piece or the proof does not verify.`

// runFilecoin implements `w3dag filecoin SUBCOMMAND`; info is the one subcommand.
func runFilecoin(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "info" {
		return runFilecoinInfo(ctx, args[1:], stdout, stderr)
	}
	fs, _ := newFlags("filecoin info", filecoinUsage, stderr)
	if wantsHelp(args) {
		fs.Usage()
		return 0
	}
	if len(args) == 0 {
		return usageError(stderr, "filecoin", "missing subcommand: info (see `w3dag filecoin -h`)")
	}
	return usageError(stderr, "filecoin", "unknown subcommand %q: the one subcommand is info (see `w3dag filecoin -h`)", args[0])
}

// filecoinInfo is what `filecoin info` found out about a CAR.
type filecoinInfo struct {
	car    cid.Cid
	status string         // the piece entry's status
	task   cid.Cid        // the compute task of a queued piece, if named
	piece  *piece.Piece   // once computed
	agg    *aggregateInfo // once aggregated
}

// aggregateInfo is the aggregate a piece is in, and the piece's inclusion proof.
type aggregateInfo struct {
	piece  piece.Piece    // the aggregate's piece (its CID is in the piece entry)
	key    string         // the aggregate entry's key; "" if no entry names the piece
	status string         // the aggregate entry's status
	deal   datamodel.Node // the aggregate's deal, when it has one
	proof  error          // nil: the inclusion proof verified
}

// runFilecoinInfo implements `w3dag filecoin info [--json] CAR-CID`.
func runFilecoinInfo(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs, cf := newFlags("filecoin info", filecoinUsage, stderr)
	pos, code, ok := parseArgs(fs, args, 1, 1)
	if !ok {
		return code
	}
	car, err := parseCARCID(pos[0])
	if err != nil {
		return usageError(stderr, "filecoin info", "%v", err)
	}
	e, err := openEnv(cf, stdout, stderr)
	if err != nil {
		return fail(stderr, "filecoin info", err)
	}
	c, err := e.client(ctx)
	if err != nil {
		return e.fail("filecoin info", err)
	}
	info, err := readFilecoinInfo(ctx, c, car)
	if err != nil {
		return e.fail("filecoin info", err)
	}
	if cf.json {
		fmt.Fprintln(stdout, dagJSON(info.node()))
	} else {
		info.print(stdout)
	}
	if info.agg != nil && (info.agg.proof != nil || info.agg.key == "") {
		return 1
	}
	return 0
}

// parseCARCID parses a CAR CID (codec car, 0x0202), saying what else it is.
func parseCARCID(s string) (cid.Cid, error) {
	c, err := cid.Parse(s)
	if err != nil {
		return cid.Undef, fmt.Errorf("%q is not a CID: %v", s, err)
	}
	if c.Type() != collection.CodecCAR {
		return cid.Undef, fmt.Errorf("%s is not a CAR CID (its codec is 0x%x, a CAR's is 0x%x: the CID `w3dag store` prints)", s, c.Type(), uint64(collection.CodecCAR))
	}
	return c, nil
}

// readFilecoinInfo reads the piece of the CAR car from the service of c and, once it is
// aggregated, its aggregate, and verifies its inclusion proof.
func readFilecoinInfo(ctx context.Context, c *client.Client, car cid.Cid) (*filecoinInfo, error) {
	service, err := c.ServiceDID(ctx)
	if err != nil {
		return nil, err
	}
	path := "/" + service + "/" + piecemachine.Name + "/" + car.String()
	r, err := c.Get(ctx, path)
	var re *client.ReceiptError
	if errors.As(err, &re) && re.Name == "NotFound" {
		return nil, fmt.Errorf("no piece for %s at %s: the CAR was never stored on this service, or its store entry is not done yet (`w3dag ls store` shows its status)", car, c.URL())
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	state := r.State()
	info := &filecoinInfo{car: car, status: r.Status()}
	if info.status == piecemachine.StatusQueued {
		info.task, _ = linkOf(state, "task")
		return info, nil
	}
	pc, err := piecemachine.Computed(state)
	if err != nil {
		return nil, fmt.Errorf("%s is %s: %w", path, info.status, err)
	}
	p, err := piece.FromCID(pc)
	if err != nil {
		return nil, fmt.Errorf("%s: piece %s: %w", path, pc, err)
	}
	info.piece = &p
	if info.status == piecemachine.StatusComputed {
		return info, nil
	}
	ac, err := aggregate.PieceCID(state)
	if err != nil {
		return nil, fmt.Errorf("%s is %s: %w", path, info.status, err)
	}
	ap, err := piece.FromCID(ac)
	if err != nil {
		return nil, fmt.Errorf("%s: aggregate %s: %w", path, ac, err)
	}
	info.agg = &aggregateInfo{piece: ap, proof: verifyInclusion(ac, pc, state)}
	if key, ok := aggregate.AggregateKey(state); ok {
		if err := readAggregate(ctx, c, service, key, pc, info.agg); err != nil {
			return nil, err
		}
		return info, nil
	}
	// A piece aggregated before its state named the aggregate's key.
	if err := findAggregate(ctx, c, service, pc, info.agg); err != nil {
		return nil, err
	}
	return info, nil
}

// verifyInclusion decodes the inclusion proof of a piece state (DAG-CBOR bytes under
// "inclusion") and verifies it for the piece pc against the aggregate piece CID ac.
func verifyInclusion(ac, pc cid.Cid, state datamodel.Node) error {
	v, err := state.LookupByString("inclusion")
	if err != nil || v.IsAbsent() || v.IsNull() {
		return errors.New("the piece has no inclusion proof")
	}
	raw, err := v.AsBytes()
	if err != nil {
		return errors.New("the inclusion proof is not bytes")
	}
	proof, err := piece.DecodeInclusionProof(raw)
	if err != nil {
		return fmt.Errorf("decoding the inclusion proof: %w", err)
	}
	return piece.VerifyInclusion(ac, pc, proof)
}

// readAggregate reads the aggregate entry /<service>/aggregate/<key> that the piece
// state names, checks that it is the aggregate agg.piece and lists pc among its members,
// and fills in agg's key, status and deal.
func readAggregate(ctx context.Context, c *client.Client, service, key string, pc cid.Cid, agg *aggregateInfo) error {
	path := "/" + service + "/" + aggregate.Name + "/" + key
	r, err := c.Get(ctx, path)
	if err != nil {
		return fmt.Errorf("reading the piece's aggregate %s: %w", path, err)
	}
	return checkAggregate(path, key, r.Status(), r.State(), pc, agg)
}

// checkAggregate checks that the aggregate entry at path (key, status, state) is the
// aggregate agg.piece and lists pc among its members, and fills in agg's key, status
// and deal.
func checkAggregate(path, key, status string, state datamodel.Node, pc cid.Cid, agg *aggregateInfo) error {
	want := agg.piece.CID()
	if got, err := aggregate.PieceCID(state); err != nil || !got.Equals(want) {
		return fmt.Errorf("%s is %s with piece CID %s (%v), the piece names aggregate %s", path, status, got, err, want)
	}
	members, err := aggregate.Members(state)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	member := false
	for _, m := range members {
		member = member || m.Equals(pc)
	}
	if !member {
		return fmt.Errorf("%s (aggregate %s) does not list the piece %s among its %d members", path, want, pc, len(members))
	}
	agg.key, agg.status = key, status
	if d, err := state.LookupByString("deal"); err == nil && !d.IsAbsent() && !d.IsNull() {
		agg.deal = d
	}
	return nil
}

// findAggregate finds, for a piece state that does not name its aggregate's key
// (recorded before it was kept), the aggregate entry whose piece CID is agg.piece (aggregate keys
// are sequence numbers, so it selects /<service>/aggregate page by page; ingesting
// aggregates have no piece CID and are skipped) and fills in its key, status and deal.
// It checks that the entry lists pc among its members.
func findAggregate(ctx context.Context, c *client.Client, service string, pc cid.Cid, agg *aggregateInfo) error {
	path := "/" + service + "/" + aggregate.Name
	want := agg.piece.CID()
	q := client.Query{Limit: client.MaxSelectLimit}
	for {
		page, err := c.Select(ctx, path, q)
		if err != nil {
			return fmt.Errorf("looking for aggregate %s in %s: %w", want, path, err)
		}
		for _, pe := range page.Entries {
			if pe.Status == aggregate.StatusIngesting {
				continue
			}
			if got, err := aggregate.PieceCID(pe.State); err != nil || !got.Equals(want) {
				continue
			}
			return checkAggregate(path+"/"+pe.Key, pe.Key, pe.Status, pe.State, pc, agg)
		}
		if page.Cursor == "" || len(page.Entries) == 0 {
			return nil // not found: printed, exit 1
		}
		q.Cursor = page.Cursor
	}
}

// linkOf returns the CID under name in the map n.
func linkOf(n datamodel.Node, name string) (cid.Cid, bool) {
	if n == nil || n.Kind() != datamodel.Kind_Map {
		return cid.Undef, false
	}
	v, err := n.LookupByString(name)
	if err != nil {
		return cid.Undef, false
	}
	l, err := v.AsLink()
	if err != nil {
		return cid.Undef, false
	}
	cl, ok := l.(cidlink.Link)
	return cl.Cid, ok && cl.Cid.Defined()
}

// proofWords is how the inclusion proof's verification is printed.
func proofWords(err error) string {
	if err == nil {
		return "verified"
	}
	return "NOT verified: " + err.Error()
}

// print prints info as readable text.
func (info *filecoinInfo) print(w io.Writer) {
	fmt.Fprintf(w, "car                %s\n", info.car)
	fmt.Fprintf(w, "status             %s\n", info.status)
	if info.piece == nil {
		if info.task.Defined() {
			fmt.Fprintf(w, "piece              not computed yet (compute task %s)\n", info.task)
		} else {
			fmt.Fprintf(w, "piece              not computed yet\n")
		}
		return
	}
	v1, padded := info.piece.V1()
	fmt.Fprintf(w, "piece              %s\n", info.piece.CID())
	fmt.Fprintf(w, "piece v1           %s\n", v1)
	fmt.Fprintf(w, "size               %d (padded piece size %d)\n", info.piece.Size, padded)
	a := info.agg
	if a == nil {
		fmt.Fprintf(w, "aggregate          not aggregated yet (the piece is in no ready aggregate)\n")
		fmt.Fprintf(w, "deal               no deal yet\n")
		return
	}
	av1, deal := a.piece.V1()
	if a.key == "" {
		fmt.Fprintf(w, "aggregate          no aggregate entry has the piece CID %s\n", a.piece.CID())
	} else {
		fmt.Fprintf(w, "aggregate          %s (%s)\n", a.key, a.status)
	}
	fmt.Fprintf(w, "aggregate piece    %s\n", a.piece.CID())
	fmt.Fprintf(w, "aggregate v1       %s\n", av1)
	fmt.Fprintf(w, "deal size          %d\n", deal)
	fmt.Fprintf(w, "inclusion proof:   %s\n", proofWords(a.proof))
	if a.deal != nil {
		fmt.Fprintf(w, "deal               %s\n", dagJSON(a.deal))
	} else {
		fmt.Fprintf(w, "deal               no deal yet\n")
	}
}

// node is the DAG-JSON form of info: {car, status, task?, piece?, v1?, size?, paddedSize?,
// aggregate?: {key?, status?, piece, v1, dealSize}, inclusion?: {verified, error?},
// deal?}.
func (info *filecoinInfo) node() datamodel.Node {
	nb := basicnode.Prototype.Map.NewBuilder()
	ma, _ := nb.BeginMap(-1)
	key := func(m datamodel.MapAssembler, k string) datamodel.NodeAssembler {
		_ = m.AssembleKey().AssignString(k)
		return m.AssembleValue()
	}
	_ = key(ma, "car").AssignLink(cidlink.Link{Cid: info.car})
	_ = key(ma, "status").AssignString(info.status)
	if info.task.Defined() {
		_ = key(ma, "task").AssignLink(cidlink.Link{Cid: info.task})
	}
	if info.piece != nil {
		v1, padded := info.piece.V1()
		_ = key(ma, "piece").AssignLink(cidlink.Link{Cid: info.piece.CID()})
		_ = key(ma, "v1").AssignLink(cidlink.Link{Cid: v1})
		_ = key(ma, "size").AssignInt(int64(info.piece.Size))
		_ = key(ma, "paddedSize").AssignInt(int64(padded))
	}
	if a := info.agg; a != nil {
		av1, deal := a.piece.V1()
		am, _ := key(ma, "aggregate").BeginMap(-1)
		if a.key != "" {
			_ = key(am, "key").AssignString(a.key)
			_ = key(am, "status").AssignString(a.status)
		}
		_ = key(am, "piece").AssignLink(cidlink.Link{Cid: a.piece.CID()})
		_ = key(am, "v1").AssignLink(cidlink.Link{Cid: av1})
		_ = key(am, "dealSize").AssignInt(int64(deal))
		_ = am.Finish()
		im, _ := key(ma, "inclusion").BeginMap(-1)
		_ = key(im, "verified").AssignBool(a.proof == nil)
		if a.proof != nil {
			_ = key(im, "error").AssignString(a.proof.Error())
		}
		_ = im.Finish()
		if a.deal != nil {
			_ = key(ma, "deal").AssignNode(a.deal)
		}
	}
	_ = ma.Finish()
	return nb.Build()
}
