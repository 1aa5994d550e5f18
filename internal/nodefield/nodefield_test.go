package nodefield_test

import (
	"errors"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/datamodel"
	"github.com/ipld/go-ipld-prime/fluent/qp"
	cidlink "github.com/ipld/go-ipld-prime/linking/cid"
	"github.com/ipld/go-ipld-prime/node/basicnode"

	"github.com/w3dag/w3dag/internal/nodefield"
)

func TestFields(t *testing.T) {
	c, err := cid.Decode("bafkqaaa")
	if err != nil {
		t.Fatal(err)
	}
	n, err := qp.BuildMap(basicnode.Prototype.Map, 5, func(ma datamodel.MapAssembler) {
		qp.MapEntry(ma, "i", qp.Int(-7))
		qp.MapEntry(ma, "s", qp.String("x"))
		qp.MapEntry(ma, "l", qp.Link(cidlink.Link{Cid: c}))
		qp.MapEntry(ma, "u", qp.Link(cidlink.Link{Cid: cid.Undef}))
		qp.MapEntry(ma, "null", qp.Null())
	})
	if err != nil {
		t.Fatal(err)
	}
	if i, err := nodefield.Int(n, "i"); i != -7 || err != nil {
		t.Errorf("Int: %d %v", i, err)
	}
	if s, err := nodefield.String(n, "s"); s != "x" || err != nil {
		t.Errorf("String: %q %v", s, err)
	}
	if l, err := nodefield.Link(n, "l"); !l.Equals(c) || err != nil {
		t.Errorf("Link: %s %v", l, err)
	}
	for _, tc := range []struct {
		name string
		read func() error
		want error
	}{
		{"Int of a string", func() error { _, err := nodefield.Int(n, "s"); return err }, nodefield.ErrKind},
		{"String of an int", func() error { _, err := nodefield.String(n, "i"); return err }, nodefield.ErrKind},
		{"Link of a string", func() error { _, err := nodefield.Link(n, "s"); return err }, nodefield.ErrKind},
		{"Link undefined", func() error { _, err := nodefield.Link(n, "u"); return err }, nodefield.ErrKind},
		{"absent", func() error { _, err := nodefield.Int(n, "nope"); return err }, nodefield.ErrMissing},
		{"null", func() error { _, err := nodefield.String(n, "null"); return err }, nodefield.ErrMissing},
		{"nil node", func() error { _, err := nodefield.Get(nil, "i"); return err }, nodefield.ErrNotMap},
		{"not a map", func() error { _, err := nodefield.Int(basicnode.NewInt(1), "i"); return err }, nodefield.ErrNotMap},
	} {
		if err := tc.read(); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
}
