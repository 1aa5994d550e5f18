package ucan_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/ipld/go-ipld-prime/codec/dagcbor"
	"github.com/ipld/go-ipld-prime/codec/dagjson"
	"github.com/ipld/go-ipld-prime/node/basicnode"

	"github.com/w3dag/w3dag/ucan"
)

// TestGoUCANInterop decodes and verifies two delegations sealed by go-ucan (the reference Go
// implementation; DAG-JSON goldens from ucan-wg/go-ucan token/delegation/testdata): a
// powerline that omits "sub" and a token with a legacy v0 varsig header, both -rc.1 tagged.
func TestGoUCANInterop(t *testing.T) {
	for i, js := range []string{
		`[{"/":{"bytes":"pcdEo4gSPlBWE1kQUUjFOQNRLvXDw6BTLmgoIrU/o1JCAeSYiiIQFrHB1KIm0phZfMHqp5O6k6QxHuldxUARBQ"}},{"h":{"/":{"bytes":"NAHtAe0BE3E"}},"ucan/dlg@1.0.0-rc.1":{"aud":"did:key:z6Mkf4WtCwPDtamsZvBJA4eSVcE7vZuRPy5Skm4HaoQv81i1","cmd":"/foo/bar","exp":7258118400,"iss":"did:key:z6MknUz1mSj4pvS6aUUHekCHdUPv7HBhDyDBZQ2W3Vujc5qC","meta":{"bar":"barr","foo":"fooo"},"nonce":{"/":{"bytes":"NnJvRGhHaTBraU5yaVFBejdKM2QrYk9lb0kvdGo4RU5pa21RTmJ0am5EMA"}},"pol":[["==",".status","draft"],["all",".reviewer",["like",".email","*@example.com"]],["any",".tags",["or",[["==",".","news"],["==",".","press"]]]]]}}]`,
		`[{"/":{"bytes":"YJsl8EMLnXSFE/nKKjMxz9bHHo+Y7QeLEzukEzW1TB+m53TTiY1aOt+qUO8JaTcOKsOHt/a4Vn+YiOd5CkLdAQ"}},{"h":{"/":{"bytes":"NO0BcQ"}},"ucan/dlg@1.0.0-rc.1":{"aud":"did:key:z6MkvJPmEZZYbgiw1ouT1oouTsTFBHJSts9ophVsNgcRmYxU","cmd":"/foo/bar","exp":7258118400,"iss":"did:key:z6Mkuukk2skDXLQn7NK3Eh9jMndYfvDBxxktgpidJAqb7M3p","meta":{"bar":"barr","foo":"fooo"},"nonce":{"/":{"bytes":"NnJvRGhHaTBraU5yaVFBejdKM2QrYk9lb0kvdGo4RU5pa21RTmJ0am5EMA"}},"pol":[["==",".status","draft"],["all",".reviewer",["like",".email","*@example.com"]],["any",".tags",["or",[["==",".","news"],["==",".","press"]]]]],"sub":"did:key:z6Mkgupchh5HwuHahS7YsyE8bLua1Mr8p2iKNRhyvSvRAs9n"}}]`,
	} {
		nb := basicnode.Prototype.Any.NewBuilder()
		if err := dagjson.Decode(nb, strings.NewReader(js)); err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := dagcbor.Encode(nb.Build(), &buf); err != nil {
			t.Fatal(err)
		}
		tok, err := ucan.Decode(buf.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		if err := tok.VerifySignature(); err != nil {
			t.Fatalf("golden %d: %v", i, err)
		}
		d := tok.Delegation
		if tok.Tag != ucan.TagDelegationRC1 || d == nil || d.Command != "/foo/bar" || len(d.Policy) != 3 || d.Meta == nil || *d.Expiration != 7258118400 {
			t.Fatalf("golden %d decoded wrong: tag %s %+v", i, tok.Tag, d)
		}
		if wantPowerline := i == 0; (d.Subject == "") != wantPowerline {
			t.Fatalf("golden %d: subject %q", i, d.Subject)
		}
		if !bytes.Equal(tok.Raw, buf.Bytes()) {
			t.Fatal("Raw differs from input")
		}
	}
}

// goUCANInvocation is go-ucan's token/invocation/testdata/full_example.dagjson: an -rc.1
// invocation with nested args, meta and three proof links.
const goUCANInvocation = `[{"/":{"bytes":"tRKNRahqwdyR6OpytuGIdcYI7HxXvKI5I594zznCLbN2C6WP5f8FIfIQlo0Nnqg4xFgKjJGAbIEVqeCZdib1Dw"}},{"h":{"/":{"bytes":"NAHtAe0BE3E"}},"ucan/inv@1.0.0-rc.1":{"args":{"headers":{"Content-Type":"application/json"},"payload":{"body":"UCAN is great","draft":true,"title":"UCAN for Fun and Profit","topics":["authz","journal"]},"uri":"https://example.com/blog/posts"},"cmd":"/crud/create","exp":1753965668,"iss":"did:key:z6MkuScdGeTmbWubyoWWpPmX9wkwdZAshkTcLKb1bf4Cyj8N","meta":{"env":"development","tags":["blog","post","pr#123"]},"nonce":{"/":{"bytes":"BBR5znl7VpRof4ac"}},"prf":[{"/":"bafyreigx3qxd2cndpe66j2mdssj773ecv7tqd7wovcnz5raguw6lj7sjoe"},{"/":"bafyreib34ira254zdqgehz6f2bhwme2ja2re3ltcalejv4x4tkcveujvpa"},{"/":"bafyreibkb66tpo2ixqx3fe5hmekkbuasrod6olt5bwm5u5pi726mduuwlq"}],"sub":"did:key:z6MkuQU8kqxCAUeurotHyrnMgkMUBtJN8ozYxkwctnop4zzB"}}]`

func TestGoUCANInvocationInterop(t *testing.T) {
	nb := basicnode.Prototype.Any.NewBuilder()
	if err := dagjson.Decode(nb, strings.NewReader(goUCANInvocation)); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := dagcbor.Encode(nb.Build(), &buf); err != nil {
		t.Fatal(err)
	}
	tok, err := ucan.Decode(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if err := tok.VerifySignature(); err != nil {
		t.Fatal(err)
	}
	inv := tok.Invocation
	if tok.Tag != ucan.TagInvocationRC1 || inv == nil || inv.Command != "/crud/create" || len(inv.Proofs) != 3 ||
		inv.Proofs[0].String() != "bafyreigx3qxd2cndpe66j2mdssj773ecv7tqd7wovcnz5raguw6lj7sjoe" || inv.Meta == nil || inv.IssuedAt != nil {
		t.Fatalf("decoded wrong: %+v", inv)
	}
	uri, err := inv.Args.LookupByString("uri")
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := uri.AsString(); s != "https://example.com/blog/posts" {
		t.Fatalf("args.uri = %q", s)
	}
}
