package client

import (
	"errors"
	"fmt"

	"github.com/w3dag/w3dag/ucan"
)

// MaxProofDepth is the longest delegation chain FindProofs builds (the service's default
// limit).
const MaxProofDepth = ucan.MaxProofDepth

var errNotDelegation = errors.New("token is not a delegation")

// FindProofs returns the shortest chain of the client's delegations, root first (issued by
// sub) and ending with one to the agent, whose subjects and commands cover an invocation of
// cmd on sub and that are valid now. It returns nil when the agent is sub itself, and an
// error wrapping ErrNoProof when there is no such chain. Policies are left to the service.
func (c *Client) FindProofs(sub, cmd string) ([]*ucan.Token, error) {
	return FindChain(c.Proofs(), sub, c.signer.DID(), cmd, c.now().Unix())
}

// FindChain is FindProofs over an explicit set of delegations for audience agent at unix time
// now.
func FindChain(proofs []*ucan.Token, sub, agent, cmd string, now int64) ([]*ucan.Token, error) {
	if sub == agent {
		return nil, nil
	}
	usable := func(t *ucan.Token) bool {
		d := t.Delegation
		if d == nil {
			return false
		}
		if d.Subject != "" && d.Subject != sub {
			return false
		}
		if !ucan.CommandCovers(d.Command, cmd) {
			return false
		}
		if d.Expiration != nil && *d.Expiration < now { // valid through exp, as ucan.Validator judges it
			return false
		}
		if d.NotBefore != nil && *d.NotBefore > now {
			return false
		}
		return true
	}
	// Breadth-first from the agent back towards the subject: each step finds delegations to
	// the current audience; chains are kept leaf first and reversed at the end.
	type partial struct {
		aud   string
		chain []*ucan.Token
	}
	frontier := []partial{{aud: agent}}
	seen := map[string]bool{agent: true}
	for depth := 0; depth < MaxProofDepth && len(frontier) > 0; depth++ {
		var next []partial
		for _, p := range frontier {
			for _, t := range proofs {
				if !usable(t) || t.Delegation.Audience != p.aud {
					continue
				}
				chain := append(append([]*ucan.Token(nil), p.chain...), t)
				iss := t.Delegation.Issuer
				if iss == sub {
					out := make([]*ucan.Token, len(chain))
					for i, tok := range chain {
						out[len(chain)-1-i] = tok
					}
					return out, nil
				}
				if seen[iss] {
					continue
				}
				seen[iss] = true
				next = append(next, partial{aud: iss, chain: chain})
			}
		}
		frontier = next
	}
	return nil, fmt.Errorf("%w from %s to %s covering %s (add one with `w3dag proof add`)", ErrNoProof, sub, agent, cmd)
}
