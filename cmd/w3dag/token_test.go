package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/w3dag/w3dag/internal/fixtures"
	"github.com/w3dag/w3dag/ucan"
	"github.com/w3dag/w3dag/ucan/container"
	"github.com/w3dag/w3dag/ucan/did"
)

type tokenFixtureCase struct {
	Name       string `json:"name"`
	Invocation struct {
		Slash struct{ Bytes string } `json:"/"`
	} `json:"invocation"`
	Proofs []struct {
		Slash struct{ Bytes string } `json:"/"`
	} `json:"proofs"`
	Time  int64 `json:"time"`
	Error *struct {
		Name string `json:"name"`
	} `json:"error"`
}

func runTokenCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), append([]string{"token"}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func mustB64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.RawStdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestTokenVerifyFixtures(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(fixtures.Path(t, "ucan"), "invocation.json"))
	if err != nil {
		t.Fatal(err)
	}
	var fx struct{ Valid, Invalid []tokenFixtureCase }
	if err := json.Unmarshal(data, &fx); err != nil {
		t.Fatal(err)
	}
	cases := append(fx.Valid, fx.Invalid...)
	if len(cases) != 20 {
		t.Fatalf("%d cases, want 20", len(cases))
	}
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			dir := t.TempDir()
			invRaw := mustB64(t, c.Invocation.Slash.Bytes)
			args := []string{"verify", writeFile(t, dir, "inv.cbor", invRaw)}
			tokens := [][]byte{invRaw}
			for i, p := range c.Proofs {
				raw := mustB64(t, p.Slash.Bytes)
				tokens = append(tokens, raw)
				args = append(args, "--proof", writeFile(t, dir, "p"+strconv.Itoa(i), raw))
			}
			args = append(args, "--at", strconv.FormatInt(c.Time, 10))
			want := "ok"
			wantCode := 0
			if c.Error != nil {
				want, wantCode = c.Error.Name+": ", 1
			}
			code, out, errs := runTokenCmd(t, args...)
			if code != wantCode || !strings.HasPrefix(out, want) {
				t.Fatalf("exit %d, stdout %q, stderr %q; want exit %d and %q", code, out, errs, wantCode, want)
			}
			// The same through one container file holding the invocation and its proofs.
			ctn, err := container.Encode(container.HeaderBase64, tokens)
			if err != nil {
				t.Fatal(err)
			}
			code, out, errs = runTokenCmd(t, "verify", writeFile(t, dir, "all.ctn", ctn), "--at", strconv.FormatInt(c.Time, 10))
			if code != wantCode || !strings.HasPrefix(out, want) {
				t.Fatalf("container: exit %d, stdout %q, stderr %q; want exit %d and %q", code, out, errs, wantCode, want)
			}
		})
	}
}

func TestTokenInspect(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(fixtures.Path(t, "ucan"), "delegation.json"))
	if err != nil {
		t.Fatal(err)
	}
	var fx struct {
		Valid []struct {
			Token []byte `json:"token"`
			CID   string `json:"cid"`
		} `json:"valid"`
	}
	if err := json.Unmarshal(data, &fx); err != nil {
		t.Fatal(err)
	}
	c := fx.Valid[0]
	dir := t.TempDir()
	inputs := map[string]string{
		"raw":       writeFile(t, dir, "raw.cbor", c.Token),
		"base64":    writeFile(t, dir, "b64.txt", []byte(base64.StdEncoding.EncodeToString(c.Token)+"\n")),
		"base64url": writeFile(t, dir, "b64url.txt", []byte(base64.RawURLEncoding.EncodeToString(c.Token))),
	}
	for name, path := range inputs {
		t.Run(name, func(t *testing.T) {
			code, out, errs := runTokenCmd(t, "inspect", path)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errs)
			}
			for _, want := range []string{"cid: " + c.CID, "kind: delegation", "tag: ucan/dlg@1.0.0", "signature: valid", `"cmd": "/account"`, `"nonce": {`, `"bytes": "J20r9pHkJ/yoNirD"`} {
				if !strings.Contains(out, want) {
					t.Fatalf("output lacks %q:\n%s", want, out)
				}
			}
		})
	}
	t.Run("stdin", func(t *testing.T) {
		old := tokenStdin
		tokenStdin = bytes.NewReader(c.Token)
		defer func() { tokenStdin = old }()
		code, out, _ := runTokenCmd(t, "inspect", "-")
		if code != 0 || !strings.Contains(out, "cid: "+c.CID) {
			t.Fatalf("exit %d:\n%s", code, out)
		}
	})
	t.Run("bad signature", func(t *testing.T) {
		bad := bytes.Clone(c.Token)
		bad[10] ^= 1
		code, out, _ := runTokenCmd(t, "inspect", writeFile(t, dir, "bad.cbor", bad))
		if code != 1 || !strings.Contains(out, "signature: invalid (InvalidSignature") {
			t.Fatalf("exit %d:\n%s", code, out)
		}
	})
	t.Run("garbage", func(t *testing.T) {
		code, _, errs := runTokenCmd(t, "inspect", writeFile(t, dir, "junk", []byte{0x82, 0x01}))
		if code != 1 || !strings.Contains(errs, "malformed token") {
			t.Fatalf("exit %d: %s", code, errs)
		}
	})
}

func TestTokenVerifyErrors(t *testing.T) {
	dir := t.TempDir()
	s, err := did.GenerateEd25519()
	if err != nil {
		t.Fatal(err)
	}
	inv, err := (&ucan.Invocation{Subject: s.DID(), Command: "/dag/get"}).Seal(s, ucan.SealOptions{RC1: true})
	if err != nil {
		t.Fatal(err)
	}
	dlg, err := (&ucan.Delegation{Audience: s.DID(), Subject: s.DID(), Command: "/", Nonce: ucan.NewNonce()}).Seal(s, ucan.SealOptions{})
	if err != nil {
		t.Fatal(err)
	}
	invPath := writeFile(t, dir, "inv", inv.Raw)
	tests := []struct {
		name string
		args []string
		code int
		out  string
	}{
		{"self-issued rc.1 token, flags before the file", []string{"verify", "--at", "100", invPath}, 0, "ok"},
		{"no invocation", []string{"verify", writeFile(t, dir, "dlg", dlg.Raw)}, 1, "InvalidClaim: "},
		{"undecodable", []string{"verify", writeFile(t, dir, "junk", []byte("@@@"))}, 1, "MalformedToken: "},
		{"undecodable proof", []string{"verify", invPath, "--proof", writeFile(t, dir, "junk2", []byte{0x82})}, 1, "MalformedToken: "},
		{"missing file", []string{"verify", filepath.Join(dir, "nope")}, 1, "MalformedToken: "},
		{"bad --at", []string{"verify", invPath, "--at", "soon"}, 2, ""},
		{"two files", []string{"verify", invPath, invPath}, 2, ""},
		{"unknown sub-command", []string{"frobnicate"}, 2, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errs := runTokenCmd(t, tt.args...)
			if code != tt.code || !strings.HasPrefix(out, tt.out) {
				t.Fatalf("exit %d stdout %q stderr %q; want %d %q", code, out, errs, tt.code, tt.out)
			}
		})
	}
}

// FuzzSplitTokens feeds arbitrary file contents to the token-file reader of `w3dag token`.
func FuzzSplitTokens(f *testing.F) {
	f.Add([]byte{0x82, 0x40, 0xa0})
	f.Add([]byte("glhAjm4YpBUWgEVmBWSotkY7bjWxj9AJLs9NfQykfoF2LhKZ76lQH0B720Qq0"))
	f.Add([]byte("BoWZjdG4tdjGA"))
	f.Add([]byte("@\xa1fctn-v1\x80"))
	f.Add([]byte(" \n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		toks, err := splitTokens(data)
		if err != nil {
			return
		}
		for _, tok := range toks {
			if tk, err := ucan.Decode(tok); err == nil && tk.CID.ByteLen() == 0 {
				t.Fatal("decoded token without CID")
			}
		}
	})
}
