package conformance

import (
	"bytes"
	"errors"
	"fmt"
	"slices"

	"github.com/ipld/go-ipld-prime/codec/dagjson"
	"github.com/ipld/go-ipld-prime/datamodel"
	"github.com/ipld/go-ipld-prime/fluent"
	"github.com/ipld/go-ipld-prime/node/basicnode"

	"github.com/w3dag/w3dag/client"
)

// The argument and input builders below, and those beside the cases that use them, use
// fluent, which panics on an assembly error (a case then fails with the panic): basicnode
// maps of these kinds cannot fail.

func putArgs(rel string, v datamodel.Node) datamodel.Node {
	return fluent.MustBuildMap(basicnode.Prototype.Map, 2, func(ma fluent.MapAssembler) {
		ma.AssembleEntry("path").AssignString(rel)
		ma.AssembleEntry("value").AssignNode(v)
	})
}

func pathArgs(rel string) datamodel.Node {
	return fluent.MustBuildMap(basicnode.Prototype.Map, 1, func(ma fluent.MapAssembler) {
		ma.AssembleEntry("path").AssignString(rel)
	})
}

func wantStatus(t T, what string, r *client.Receipt, status string) {
	t.Helper()
	if r.Error != nil {
		t.Fatalf("%s: error receipt %v, want status %q", what, r.Error, status)
	}
	if got := r.Status(); got != status {
		t.Fatalf("%s: status %q, want %q (state %s)", what, got, status, show(r.Ok))
	}
}

func wantErrorName(t T, what string, r *client.Receipt, names ...string) {
	t.Helper()
	if r.Error == nil {
		t.Fatalf("%s: ok receipt %s, want an error receipt named one of %v", what, show(r.Ok), names)
	}
	if !slices.Contains(names, r.Error.Name) {
		t.Fatalf("%s: error %q (%s), want one of %v", what, r.Error.Name, r.Error.Message, names)
	}
	if r.Error.Message == "" {
		t.Errorf("%s: error %q has no message", what, r.Error.Name)
	}
}

func show(n datamodel.Node) string {
	if n == nil {
		return "<none>"
	}
	var buf bytes.Buffer
	if err := dagjson.Encode(n, &buf); err != nil {
		return fmt.Sprintf("<%v>", err)
	}
	return buf.String()
}

func isReceiptError(err error, name string) bool {
	var re *client.ReceiptError
	return errors.As(err, &re) && re.Name == name
}

func isHTTPStatus(err error, status int) bool {
	var he *client.HTTPError
	return errors.As(err, &he) && he.Status == status
}
