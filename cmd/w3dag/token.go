package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/w3dag/w3dag/message"
	"github.com/w3dag/w3dag/ucan"
	"github.com/w3dag/w3dag/ucan/container"
)

// maxTokenFileSize bounds what `w3dag token` reads from one file or stdin: a container of
// many tokens, possibly base64-encoded.
const maxTokenFileSize = 8 << 20

// malformedToken is the error name `token verify` prints for input that does not decode.
const malformedToken = "MalformedToken"

// tokenStdin is where a FILE of "-" is read from (replaced in tests).
var tokenStdin io.Reader = os.Stdin

func tokenUsage(w io.Writer) {
	fmt.Fprintln(w, `usage:
  w3dag token inspect FILE
      Decode a token (raw DAG-CBOR, base64 text, or a ctn-v1 container; "-" reads stdin)
      and print its CID, kind, tag, payload as DAG-JSON and whether the signature
      verifies. Exits 1 if the input does not decode or a signature does not verify.
  w3dag token verify INVOCATION [--proof FILE]... [--at UNIX_SECONDS]
      Validate an invocation against its proofs (from --proof files and/or a container
      holding the invocation). Prints "ok" and exits 0, or prints the error name
      (e.g. "Expired: ...") and exits 1.`)
}

func runToken(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		tokenUsage(stdout)
		return 0
	}
	switch args[0] {
	case "inspect":
		return runTokenInspect(args[1:], stdout, stderr)
	case "verify":
		return runTokenVerify(args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "w3dag token: unknown sub-command %q\n", args[0])
	tokenUsage(stderr)
	return 2
}

// readTokens reads FILE ("-" for stdin) and returns the token envelopes it holds: one raw
// DAG-CBOR token, one base64 token (standard or URL alphabet, padded or not), or a ctn-v1
// container in any of its six encodings.
func readTokens(path string) ([][]byte, error) {
	var r io.Reader
	if path == "-" {
		r = tokenStdin
	} else {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	data, err := io.ReadAll(io.LimitReader(r, maxTokenFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if len(data) > maxTokenFileSize {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, maxTokenFileSize)
	}
	return splitTokens(data)
}

func splitTokens(data []byte) ([][]byte, error) {
	if len(data) > 0 && data[0] == 0x82 { // a DAG-CBOR envelope: array(2)
		return [][]byte{data}, nil
	}
	text := bytes.TrimSpace(data)
	if len(text) == 0 {
		return nil, errors.New("empty input")
	}
	// A base64 token always starts with 'g' (0x82 >> 2); containers start with their header.
	if text[0] == 'g' {
		s := strings.TrimRight(string(text), "=")
		for _, enc := range []*base64.Encoding{base64.RawStdEncoding, base64.RawURLEncoding} {
			if b, err := enc.DecodeString(s); err == nil {
				return [][]byte{b}, nil
			}
		}
		return nil, errors.New("input starts like a base64 token but is not valid base64")
	}
	toks, err := container.Decode(text)
	if err != nil {
		return nil, fmt.Errorf("not a token, base64 token or container: %w", err)
	}
	return toks, nil
}

func runTokenInspect(args []string, stdout, stderr io.Writer) int {
	if len(args) != 1 {
		fmt.Fprintln(stderr, "w3dag token inspect: want exactly one FILE (or -)")
		return 2
	}
	raws, err := readTokens(args[0])
	if err != nil {
		fmt.Fprintf(stderr, "w3dag token inspect: %v\n", err)
		return 1
	}
	if len(raws) == 0 {
		fmt.Fprintf(stderr, "w3dag token inspect: %s holds no tokens\n", args[0])
		return 1
	}
	code := 0
	for i, raw := range raws {
		if i > 0 {
			fmt.Fprintln(stdout)
		}
		if !inspectOne(raw, stdout, stderr) {
			code = 1
		}
	}
	return code
}

// inspectOne prints one token and reports whether it decoded and its signature verified.
func inspectOne(raw []byte, stdout, stderr io.Writer) bool {
	tok, err := ucan.Decode(raw)
	if err != nil {
		fmt.Fprintf(stderr, "w3dag token inspect: %v\n", err)
		return false
	}
	payload, err := tok.Payload()
	if err != nil {
		fmt.Fprintf(stderr, "w3dag token inspect: %v\n", err)
		return false
	}
	var js bytes.Buffer
	if err := message.EncodeDAGJSON(payload, &js); err != nil {
		fmt.Fprintf(stderr, "w3dag token inspect: encoding payload as DAG-JSON: %v\n", err)
		return false
	}
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, js.Bytes(), "", "  "); err != nil {
		pretty = js
	}
	sigErr := tok.VerifySignature()
	fmt.Fprintf(stdout, "cid: %s\n", tok.CID)
	fmt.Fprintf(stdout, "kind: %s\n", tok.Kind())
	fmt.Fprintf(stdout, "tag: %s\n", tok.Tag)
	fmt.Fprintf(stdout, "varsig: %x\n", tok.VarsigHeader())
	if sigErr == nil {
		fmt.Fprintln(stdout, "signature: valid")
	} else {
		fmt.Fprintf(stdout, "signature: invalid (%v)\n", sigErr)
	}
	fmt.Fprintf(stdout, "payload: %s\n", pretty.String())
	return sigErr == nil
}

// multiFlag collects a repeatable string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func runTokenVerify(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("w3dag token verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var proofFiles multiFlag
	fs.Var(&proofFiles, "proof", "a file holding proof delegations (token, base64 token or container); repeatable")
	at := fs.String("at", "", "validation time in Unix seconds (default: now)")
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return 2
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(pos) != 1 {
		fmt.Fprintln(stderr, "w3dag token verify: want exactly one INVOCATION file (or -)")
		return 2
	}
	now := time.Now
	if *at != "" {
		sec, err := strconv.ParseInt(*at, 10, 64)
		if err != nil {
			fmt.Fprintf(stderr, "w3dag token verify: --at %q is not an integer of Unix seconds\n", *at)
			return 2
		}
		now = func() time.Time { return time.Unix(sec, 0) }
	}

	raws, err := readTokens(pos[0])
	if err != nil {
		fmt.Fprintf(stdout, "%s: %s: %v\n", malformedToken, pos[0], err)
		return 1
	}
	var inv *ucan.Token
	proofs := ucan.Proofs{}
	for _, raw := range raws {
		tok, err := ucan.Decode(raw)
		if err != nil {
			fmt.Fprintf(stdout, "%s: %s: %v\n", malformedToken, pos[0], err)
			return 1
		}
		switch {
		case tok.Invocation == nil:
			proofs[tok.CID] = tok
		case inv != nil:
			fmt.Fprintf(stdout, "%s: %s holds more than one invocation\n", ucan.InvalidClaim, pos[0])
			return 1
		default:
			inv = tok
		}
	}
	if inv == nil {
		fmt.Fprintf(stdout, "%s: %s holds no invocation\n", ucan.InvalidClaim, pos[0])
		return 1
	}
	for _, pf := range proofFiles {
		raws, err := readTokens(pf)
		if err != nil {
			fmt.Fprintf(stdout, "%s: %s: %v\n", malformedToken, pf, err)
			return 1
		}
		for _, raw := range raws {
			tok, err := ucan.Decode(raw)
			if err != nil {
				fmt.Fprintf(stdout, "%s: %s: %v\n", malformedToken, pf, err)
				return 1
			}
			proofs[tok.CID] = tok
		}
	}
	v := ucan.NewValidator(ucan.ValidatorOptions{Now: now})
	if err := v.Validate(inv, proofs); err != nil {
		fmt.Fprintln(stdout, err)
		return 1
	}
	fmt.Fprintln(stdout, "ok")
	return 0
}
