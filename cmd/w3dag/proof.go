package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/w3dag/w3dag/ucan"
	"github.com/w3dag/w3dag/ucan/container"
)

// runProof implements `w3dag proof add FILE` (FILE "-" is stdin) and `w3dag proof ls`.
func runProof(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs, cf := newFlags("proof", "usage: w3dag proof add FILE | w3dag proof ls", stderr)
	pos, code, ok := parseArgs(fs, args, 1, manyArgs)
	if !ok {
		return code
	}
	e, err := openEnv(cf, stdout, stderr)
	if err != nil {
		return fail(stderr, "proof", err)
	}
	switch pos[0] {
	case "add":
		if len(pos) != 2 {
			return usageError(stderr, "proof add", "want one FILE (a ctn-v1 container or a raw token; - for stdin)")
		}
		tokens, err := readProofFile(pos[1])
		if err != nil {
			return fail(stderr, "proof add", err)
		}
		now := time.Now()
		for _, t := range tokens {
			if v := validityOf(t.Delegation, now); v.status != statusValid {
				verb := ""
				if v.status == statusTooEarly {
					verb = "is "
				}
				return fail(stderr, "proof add", fmt.Errorf("delegation %s of %s from %s %s%s; nothing was added: ask %s for a new one",
					t.CID, t.Delegation.Command, t.Delegation.Issuer, verb, v.words, t.Delegation.Issuer))
			}
		}
		for _, t := range tokens {
			if err := e.profile.addProof(t); err != nil {
				return fail(stderr, "proof add", err)
			}
			printDelegation(stdout, t, now, cf.json)
		}
		// A first delegation to this agent makes its space the current one.
		if e.state.Space == "" {
			for _, t := range tokens {
				if d := t.Delegation; d.Audience == e.agent.DID() && d.Subject != "" {
					e.state.Space = d.Subject
					if err := e.profile.saveState(e.state); err != nil {
						return fail(stderr, "proof add", err)
					}
					break
				}
			}
		}
	case "ls":
		proofs, err := e.profile.proofs()
		if err != nil {
			return fail(stderr, "proof ls", err)
		}
		now := time.Now()
		for _, t := range proofs {
			printDelegation(stdout, t, now, cf.json)
		}
	default:
		return usageError(stderr, "proof", "unknown sub-command %q (want add or ls)", pos[0])
	}
	return 0
}

// readProofFile reads delegations from a ctn-v1 container (any header) or one raw token and
// checks each one's signature.
func readProofFile(name string) ([]*ucan.Token, error) {
	var r io.Reader = os.Stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	data, err := io.ReadAll(io.LimitReader(r, maxProofFile+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	if len(data) > maxProofFile {
		return nil, fmt.Errorf("%s is larger than %d bytes", name, maxProofFile)
	}
	var raws [][]byte
	if t, err := ucan.Decode(data); err == nil {
		raws = [][]byte{t.Raw}
	} else if ctn, cerr := container.Decode(bytes.TrimSpace(data)); cerr == nil {
		raws = ctn
	} else {
		return nil, fmt.Errorf("%s is neither a ctn-v1 container (%v) nor a UCAN token (%v)", name, cerr, err)
	}
	if len(raws) == 0 {
		return nil, errors.New(name + " holds no tokens")
	}
	var out []*ucan.Token
	for _, raw := range raws {
		t, err := ucan.Decode(raw)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if t.Delegation == nil {
			continue // invocations are not proofs
		}
		if err := t.VerifySignature(); err != nil {
			return nil, fmt.Errorf("%s: delegation %s: %w", name, t.CID, err)
		}
		out = append(out, t)
	}
	if len(out) == 0 {
		return nil, errors.New(name + " holds no delegations")
	}
	return out, nil
}

// Where a delegation stands at a given time.
const (
	statusValid    = "valid"
	statusExpired  = "expired"
	statusTooEarly = "not yet valid"
)

// validity is where a delegation stands at a time, in a status and in words.
type validity struct {
	status string
	words  string
}

// validityOf judges d at now by the ucan package's clock (unix seconds, no skew): usable from
// nbf through exp, both included. The words give the dates in UTC and how far away they are:
// "expired 3 hours ago (2026-12-06 01:02 UTC)", "valid until 2026-12-07 01:02 UTC (in 23
// hours)", "not valid before …", "valid, never expires".
func validityOf(d *ucan.Delegation, now time.Time) validity {
	n := now.Unix()
	switch {
	case d.Expiration != nil && n > *d.Expiration:
		at := time.Unix(*d.Expiration, 0)
		return validity{statusExpired, fmt.Sprintf("expired %s ago (%s)", inWords(now.Sub(at)), dateUTC(at))}
	case d.NotBefore != nil && n < *d.NotBefore:
		at := time.Unix(*d.NotBefore, 0)
		return validity{statusTooEarly, fmt.Sprintf("not valid before %s (in %s)", dateUTC(at), inWords(at.Sub(now)))}
	case d.Expiration != nil:
		at := time.Unix(*d.Expiration, 0)
		return validity{statusValid, fmt.Sprintf("valid until %s (in %s)", dateUTC(at), inWords(at.Sub(now)))}
	}
	return validity{statusValid, "valid, never expires"}
}

// dateUTC is t to the minute in UTC: "2026-12-06 01:02 UTC".
func dateUTC(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") }

// inWords is a duration rounded down to its largest unit: "45 seconds", "1 minute",
// "3 hours", "2 days" (hours up to 48).
func inWords(d time.Duration) string {
	unit := func(n int64, name string) string {
		if n == 1 {
			return "1 " + name
		}
		return fmt.Sprintf("%d %ss", n, name)
	}
	switch {
	case d < time.Second:
		return "less than a second"
	case d < time.Minute:
		return unit(int64(d/time.Second), "second")
	case d < time.Hour:
		return unit(int64(d/time.Minute), "minute")
	case d < 48*time.Hour:
		return unit(int64(d/time.Hour), "hour")
	}
	return unit(int64(d/(24*time.Hour)), "day")
}

// printDelegation prints a delegation and where it stands at now.
func printDelegation(w io.Writer, t *ucan.Token, now time.Time, asJSON bool) {
	d := t.Delegation
	v := validityOf(d, now)
	if asJSON {
		var sub *string
		if d.Subject != "" {
			sub = &d.Subject
		}
		b, _ := json.Marshal(struct {
			CID      map[string]string `json:"cid"`
			Iss      string            `json:"iss"`
			Aud      string            `json:"aud"`
			Sub      *string           `json:"sub"`
			Cmd      string            `json:"cmd"`
			Exp      *int64            `json:"exp"`
			Nbf      *int64            `json:"nbf,omitempty"`
			Status   string            `json:"status"`
			Validity string            `json:"validity"`
		}{map[string]string{"/": t.CID.String()}, d.Issuer, d.Audience, sub, d.Command, d.Expiration, d.NotBefore, v.status, v.words})
		fmt.Fprintln(w, string(b))
		return
	}
	sub := d.Subject
	if sub == "" {
		sub = "(any)"
	}
	fmt.Fprintf(w, "%s  %s → %s  cmd %s  sub %s  %s\n", t.CID, d.Issuer, d.Audience, d.Command, sub, v.words)
}
