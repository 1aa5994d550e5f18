package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/ipld/go-ipld-prime/datamodel"
	"github.com/ipld/go-ipld-prime/node/basicnode"

	"github.com/w3dag/w3dag/collection"
	"github.com/w3dag/w3dag/message"
	"github.com/w3dag/w3dag/ucan"
	"github.com/w3dag/w3dag/ucan/did"
)

const (
	// DefaultURL is the service URL used when Options.URL is empty.
	DefaultURL = "http://127.0.0.1:8080"
	// DefaultInvocationTTL is how long an invocation stays valid when Options.InvocationTTL
	// is zero.
	DefaultInvocationTTL = 5 * time.Minute
	// MaxReplySize bounds the body of a reply the client reads (receipts, chains).
	MaxReplySize = message.MaxReplySize
	// MaxErrorBodySize bounds the JSON error body read from a 4xx/5xx reply.
	MaxErrorBodySize = 64 << 10
	// MaxInvocations is the most invocations Send puts in one agent message (the service's
	// default limit); larger batches are split into several messages.
	MaxInvocations = message.MaxInvocations
	// MaxMessageSize is the largest agent message Send builds, in bytes (the service's
	// default limit); a batch is split before it would exceed it.
	MaxMessageSize = message.MaxMessageSize
	// messageOverhead and blockOverhead bound the CAR framing: header and root block (with a
	// link per invocation), and the length prefix and CID in front of each block.
	messageOverhead = 64 << 10
	blockOverhead   = 64

	// Commands of the DAG.
	CmdPut    = "/dag/put"
	CmdGet    = "/dag/get"
	CmdRemove = "/dag/remove"
	CmdSelect = "/dag/select"
)

// Options configure a Client. The zero value of every field but Signer is usable.
type Options struct {
	// URL is the base URL of the service. Empty means DefaultURL.
	URL string
	// Signer is the agent key that issues invocations. Required.
	Signer did.Signer
	// ServiceDID is the audience of invocations and the DID every receipt must be signed by.
	// Empty means it is fetched from URL/.well-known/did.json on first use.
	ServiceDID string
	// Proofs are the delegations the agent holds. For each invocation the client picks a
	// chain from them; nil means none (the agent can then only invoke on its own DID).
	Proofs []*ucan.Token
	// HTTPClient sends the requests. Nil means a client without an overall timeout (watch
	// streams are long-lived); bound calls with their ctx.
	HTTPClient *http.Client
	// InvocationTTL is how long after sealing an invocation expires. Zero means
	// DefaultInvocationTTL; a negative value seals invocations that never expire.
	InvocationTTL time.Duration
	// Seal is passed to the token sealer; the zero value emits @1.0.0 tags.
	Seal ucan.SealOptions
	// Now tells the time for expirations and proof selection. Nil means time.Now.
	Now func() time.Time
	// Logger receives debug logs (reconnects of Watch). Nil means no logging.
	Logger *slog.Logger
	// SkipSignatures, when true, leaves out the signature check of receipts returned by Send
	// (their shape, issuer and `ran` are still checked). Only for load generators that must
	// not spend their CPU on verification; the zero value verifies every receipt.
	SkipSignatures bool
}

// Client talks to one w3dag service as one agent. It is safe for concurrent use.
type Client struct {
	url    string
	signer did.Signer
	http   *http.Client
	ttl    time.Duration
	seal   ucan.SealOptions
	now    func() time.Time
	log    *slog.Logger
	noSig  bool

	mu      sync.Mutex
	service string
	proofs  []*ucan.Token
}

// New returns a Client for opts.
func New(opts Options) (*Client, error) {
	if opts.Signer == nil {
		return nil, ErrNoSigner
	}
	c := &Client{
		url:     strings.TrimRight(opts.URL, "/"),
		signer:  opts.Signer,
		http:    opts.HTTPClient,
		ttl:     opts.InvocationTTL,
		seal:    opts.Seal,
		now:     opts.Now,
		log:     opts.Logger,
		noSig:   opts.SkipSignatures,
		service: opts.ServiceDID,
	}
	if c.url == "" {
		c.url = DefaultURL
	}
	if !strings.HasPrefix(c.url, "http://") && !strings.HasPrefix(c.url, "https://") {
		return nil, fmt.Errorf("client: service URL %q must start with http:// or https://", opts.URL)
	}
	if c.http == nil {
		c.http = &http.Client{}
	}
	if c.ttl == 0 {
		c.ttl = DefaultInvocationTTL
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.service != "" {
		if _, err := did.Parse(c.service); err != nil {
			return nil, fmt.Errorf("client: service DID %q: %w", c.service, err)
		}
	}
	if err := c.AddProofs(opts.Proofs...); err != nil {
		return nil, err
	}
	return c, nil
}

// URL is the service's base URL.
func (c *Client) URL() string { return c.url }

// Agent is the DID of the agent key invocations are issued by.
func (c *Client) Agent() string { return c.signer.DID() }

// AddProofs adds delegations the agent may use as proofs. Invocation tokens are rejected.
func (c *Client) AddProofs(tokens ...*ucan.Token) error {
	for _, t := range tokens {
		if t == nil || t.Delegation == nil {
			return fmt.Errorf("client: adding proof: %w", errNotDelegation)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, t := range tokens {
		dup := false
		for _, have := range c.proofs {
			if have.CID.Equals(t.CID) {
				dup = true
				break
			}
		}
		if !dup {
			c.proofs = append(c.proofs, t)
		}
	}
	return nil
}

// Proofs returns the delegations the client holds.
func (c *Client) Proofs() []*ucan.Token {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*ucan.Token(nil), c.proofs...)
}

// ServiceDID returns the service's DID, fetching it from /.well-known/did.json the first time
// when Options.ServiceDID was empty.
func (c *Client) ServiceDID(ctx context.Context) (string, error) {
	c.mu.Lock()
	s := c.service
	c.mu.Unlock()
	if s != "" {
		return s, nil
	}
	s, err := FetchServiceDID(ctx, c.http, c.url)
	if err != nil {
		return "", err
	}
	c.mu.Lock()
	c.service = s
	c.mu.Unlock()
	return s, nil
}

// FetchServiceDID reads the "id" of the DID document at url/.well-known/did.json.
// A nil hc means http.DefaultClient.
func FetchServiceDID(ctx context.Context, hc *http.Client, url string) (string, error) {
	if hc == nil {
		hc = http.DefaultClient
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(url, "/")+"/.well-known/did.json", nil)
	if err != nil {
		return "", fmt.Errorf("client: fetching service DID: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return "", fmt.Errorf("client: fetching service DID: %w", unreachable(strings.TrimRight(url, "/"), err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("client: fetching service DID: %w", httpError(resp))
	}
	var doc struct {
		ID string `json:"id"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, MaxErrorBodySize)).Decode(&doc); err != nil {
		return "", fmt.Errorf("client: fetching service DID: %w: %v", ErrInvalidResponse, err)
	}
	if _, err := did.Parse(doc.ID); err != nil {
		return "", fmt.Errorf("client: service DID %q from did.json: %w", doc.ID, err)
	}
	return doc.ID, nil
}

// Invocation is a sealed invocation together with the delegations it cites, ready to Send.
type Invocation struct {
	Token  *ucan.Token
	Proofs []*ucan.Token
}

// Args are the arguments of a DAG command besides its path.
type Args map[string]datamodel.Node

// NewInvocation seals an invocation of cmd on path (absolute: /<did>/<collection>/…) with
// args, by the agent, to the service, citing a chain of the client's delegations from the
// path's subject to the agent (none when the agent is the subject). It returns ErrNoProof
// (wrapped) when no chain covers cmd — except for reads (CmdGet, CmdSelect) of the
// service's own collections, which are sent without proofs: the service lets anyone read
// its public ones (carwhere, piece, aggregate, metrics; DESIGN §2) and refuses the others
// with an error receipt.
func (c *Client) NewInvocation(ctx context.Context, cmd, path string, args Args) (*Invocation, error) {
	sub, rel, err := SplitPath(path)
	if err != nil {
		return nil, err
	}
	service, err := c.ServiceDID(ctx)
	if err != nil {
		return nil, err
	}
	proofs, err := c.FindProofs(sub, cmd)
	if err != nil {
		if !errors.Is(err, ErrNoProof) || sub != service || (cmd != CmdGet && cmd != CmdSelect) {
			return nil, err
		}
		proofs = nil
	}
	node, err := buildArgs(rel, args)
	if err != nil {
		return nil, err
	}
	inv := &ucan.Invocation{
		Issuer:   c.signer.DID(),
		Subject:  sub,
		Audience: service,
		Command:  cmd,
		Args:     node,
		Nonce:    ucan.NewNonce(),
	}
	for _, p := range proofs {
		inv.Proofs = append(inv.Proofs, p.CID)
	}
	now := c.now()
	iat := now.Unix()
	inv.IssuedAt = &iat
	if c.ttl > 0 {
		exp := now.Add(c.ttl).Unix()
		inv.Expiration = &exp
	}
	seal := c.seal
	seal.Direct = true // the client built Args itself and never changes them
	tok, err := inv.Seal(c.signer, seal)
	if err != nil {
		return nil, fmt.Errorf("client: sealing %s invocation: %w", cmd, err)
	}
	return &Invocation{Token: tok, Proofs: proofs}, nil
}

// buildArgs builds the args map {path: rel, …args} with keys in a fixed order.
func buildArgs(rel string, args Args) (datamodel.Node, error) {
	keys := make([]string, 0, len(args))
	for k := range args {
		if k == "path" {
			return nil, fmt.Errorf("client: args must not repeat %q", k)
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	nb := basicnode.Prototype.Map.NewBuilder()
	ma, err := nb.BeginMap(int64(len(keys) + 1))
	if err != nil {
		return nil, err
	}
	if err := ma.AssembleKey().AssignString("path"); err != nil {
		return nil, err
	}
	if err := ma.AssembleValue().AssignString(rel); err != nil {
		return nil, err
	}
	for _, k := range keys {
		if args[k] == nil {
			return nil, fmt.Errorf("client: argument %q is nil", k)
		}
		if err := ma.AssembleKey().AssignString(k); err != nil {
			return nil, err
		}
		if err := ma.AssembleValue().AssignNode(args[k]); err != nil {
			return nil, fmt.Errorf("client: argument %q: %w", k, err)
		}
	}
	if err := ma.Finish(); err != nil {
		return nil, err
	}
	return nb.Build(), nil
}

// SplitPath splits an absolute DAG path /<did>/<collection>[/<key>…] into the subject DID
// and the path relative to it (what args.path carries), checking it by the service's path
// grammar (collection.Parse); a trailing "/" is ignored. Keys are checked against their
// collection's rule by the service.
func SplitPath(path string) (subject, rel string, err error) {
	p, err := collection.Parse(strings.TrimSuffix(path, "/"))
	if err != nil {
		return "", "", fmt.Errorf("%w: %w", ErrInvalidPath, err)
	}
	if p.Collection == "" {
		return "", "", fmt.Errorf("%w: %q has no collection after the subject", ErrInvalidPath, path)
	}
	return p.Subject, p.Rel(), nil
}
