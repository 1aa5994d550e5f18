package carwhere

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/datamodel"
	"github.com/ipld/go-ipld-prime/fluent/qp"
	cidlink "github.com/ipld/go-ipld-prime/linking/cid"
	"github.com/ipld/go-ipld-prime/node/basicnode"

	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/ucan"
	"github.com/w3dag/w3dag/ucan/did"
)

const (
	// ClaimCommand is the command of a location claim.
	ClaimCommand = "/assert/location"
	// DefaultClaimTTL is how long a location claim is valid when ClaimsOptions.TTL is zero
	// (DESIGN §9: 1 h).
	DefaultClaimTTL = time.Hour
	// ClaimRenewBefore is how long before its expiry a cached claim is replaced by a fresh
	// one, so a client never receives a claim about to lapse. With a TTL shorter than
	// twice this, claims are renewed after half their TTL.
	ClaimRenewBefore = 5 * time.Minute
	// MaxCachedClaims is the most CARs whose claims are cached when
	// ClaimsOptions.CacheSize is zero.
	MaxCachedClaims = 10000
)

// ClaimsOptions configure Claims. The zero value issues claims valid for DefaultClaimTTL,
// timed by time.Now, cached for up to MaxCachedClaims CARs.
type ClaimsOptions struct {
	// TTL is how long a claim is valid; zero means DefaultClaimTTL.
	TTL time.Duration
	// Clock tells the time of issue; nil means time.Now.
	Clock func() time.Time
	// CacheSize bounds the CARs whose claims are cached; zero means MaxCachedClaims,
	// a negative value disables the cache.
	CacheSize int
	// Seal chooses the UCAN tag version; the zero value emits @1.0.0.
	Seal ucan.SealOptions
}

// Claims materialises signed location claims from carwhere entries (see the package
// documentation). It implements the server's Claims interface and is safe for concurrent
// use.
type Claims struct {
	r      EntryReader
	signer did.Signer
	opts   ClaimsOptions

	mu    sync.Mutex
	cache map[cid.Cid]cached
}

type cached struct {
	head   cid.Cid
	renew  time.Time
	tokens []*ucan.Token
}

// NewClaims returns Claims reading entries through r (the engine) and signing with the
// service key.
func NewClaims(r EntryReader, service did.Signer, opts ClaimsOptions) *Claims {
	if opts.TTL <= 0 {
		opts.TTL = DefaultClaimTTL
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if opts.CacheSize == 0 {
		opts.CacheSize = MaxCachedClaims
	}
	return &Claims{r: r, signer: service, opts: opts, cache: map[cid.Cid]cached{}}
}

// Claims returns one signed /assert/location claim for each location of the CAR c, or an
// error wrapping dag.ErrNotFound when c is not located anywhere (ErrNotCAR when c is not
// a CAR CID).
func (cl *Claims) Claims(ctx context.Context, c cid.Cid) ([]*ucan.Token, error) {
	if c.Type() != CodecCAR {
		return nil, fmt.Errorf("%w: %s has codec 0x%x", ErrNotCAR, c, c.Type())
	}
	loc, e, err := Lookup(ctx, cl.r, cl.signer.DID(), c)
	if err != nil {
		return nil, fmt.Errorf("locating %s: %w", c, err)
	}
	now := cl.opts.Clock()
	cl.mu.Lock()
	hit, ok := cl.cache[c]
	cl.mu.Unlock()
	if ok && hit.head.Equals(e.Head) && now.Before(hit.renew) {
		return hit.tokens, nil
	}
	tokens, err := cl.issue(c, loc, now)
	if err != nil {
		return nil, err
	}
	if len(tokens) == 0 {
		return nil, fmt.Errorf("locating %s: no location has a URI: %w", c, dag.ErrNotFound)
	}
	cl.store(c, cached{head: e.Head, renew: now.Add(cl.renewAfter()), tokens: tokens})
	return tokens, nil
}

// renewAfter is how long after issue a cached claim is replaced.
func (cl *Claims) renewAfter() time.Duration {
	if cl.opts.TTL < 2*ClaimRenewBefore {
		return cl.opts.TTL / 2
	}
	return cl.opts.TTL - ClaimRenewBefore
}

// store caches an entry, making room by dropping expired entries and then arbitrary ones.
func (cl *Claims) store(c cid.Cid, v cached) {
	if cl.opts.CacheSize < 0 {
		return
	}
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if _, ok := cl.cache[c]; !ok && len(cl.cache) >= cl.opts.CacheSize {
		now := cl.opts.Clock()
		for k, old := range cl.cache {
			if !now.Before(old.renew) {
				delete(cl.cache, k)
			}
		}
		for k := range cl.cache {
			if len(cl.cache) < cl.opts.CacheSize {
				break
			}
			delete(cl.cache, k)
		}
	}
	cl.cache[c] = v
}

// cacheLen is the number of CARs cached (for tests).
func (cl *Claims) cacheLen() int {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	return len(cl.cache)
}

// issue signs the claims of loc at now.
func (cl *Claims) issue(c cid.Cid, loc *Located, now time.Time) ([]*ucan.Token, error) {
	iat := now.Unix()
	exp := now.Add(cl.opts.TTL).Unix()
	var out []*ucan.Token
	for _, l := range loc.Locations {
		if len(l.URIs) == 0 {
			continue
		}
		args, err := claimArgs(c, l.URIs, loc.Size)
		if err != nil {
			return nil, fmt.Errorf("claim of %s: %w", c, err)
		}
		inv := &ucan.Invocation{
			Issuer:     cl.signer.DID(),
			Subject:    cl.signer.DID(),
			Command:    ClaimCommand,
			Args:       args,
			Expiration: &exp,
			IssuedAt:   &iat,
		}
		tok, err := inv.Seal(cl.signer, cl.opts.Seal)
		if err != nil {
			return nil, fmt.Errorf("signing claim of %s: %w", c, err)
		}
		out = append(out, tok)
	}
	return out, nil
}

func claimArgs(c cid.Cid, uris []string, size int64) (datamodel.Node, error) {
	return qp.BuildMap(basicnode.Prototype.Map, 3, func(ma datamodel.MapAssembler) {
		qp.MapEntry(ma, "content", qp.Link(cidlink.Link{Cid: c}))
		qp.MapEntry(ma, "location", qp.List(int64(len(uris)), func(la datamodel.ListAssembler) {
			for _, u := range uris {
				qp.ListEntry(la, qp.String(u))
			}
		}))
		qp.MapEntry(ma, "size", qp.Int(size))
	})
}

// Claim is a location claim read back from its token.
type Claim struct {
	// Issuer is the service that signed it.
	Issuer string
	// Content is the CAR the claim is about.
	Content cid.Cid
	// Location are the URIs the CAR can be fetched from.
	Location []string
	// Size is the CAR's size in bytes.
	Size int64
	// Expires is the end of the claim's validity.
	Expires time.Time
}

// VerifyClaim checks that tok is a location claim signed by service and valid at now, and
// returns what it claims. Errors wrap ErrInvalidClaim.
func VerifyClaim(tok *ucan.Token, service string, now time.Time) (*Claim, error) {
	inv := tok.Invocation
	if inv == nil {
		return nil, fmt.Errorf("%w: not an invocation token", ErrInvalidClaim)
	}
	if inv.Command != ClaimCommand {
		return nil, fmt.Errorf("%w: command %q, want %q", ErrInvalidClaim, inv.Command, ClaimCommand)
	}
	if inv.Issuer != service || inv.Subject != service {
		return nil, fmt.Errorf("%w: issued by %s about %s, want %s", ErrInvalidClaim, inv.Issuer, inv.Subject, service)
	}
	if err := tok.VerifySignature(); err != nil {
		return nil, fmt.Errorf("%w: signature: %w", ErrInvalidClaim, err)
	}
	if inv.Expiration == nil {
		return nil, fmt.Errorf("%w: no expiry", ErrInvalidClaim)
	}
	exp := time.Unix(*inv.Expiration, 0)
	if !now.Before(exp) {
		return nil, fmt.Errorf("%w: expired at %s", ErrInvalidClaim, exp.UTC().Format(time.RFC3339))
	}
	cl := &Claim{Issuer: inv.Issuer, Expires: exp}
	cn, err := inv.Args.LookupByString("content")
	if err != nil {
		return nil, fmt.Errorf("%w: no content", ErrInvalidClaim)
	}
	l, err := cn.AsLink()
	if err != nil {
		return nil, fmt.Errorf("%w: content is not a link", ErrInvalidClaim)
	}
	ll, ok := l.(cidlink.Link)
	if !ok {
		return nil, fmt.Errorf("%w: content is not a CID link", ErrInvalidClaim)
	}
	cl.Content = ll.Cid
	ln, err := inv.Args.LookupByString("location")
	if err != nil || ln.Kind() != datamodel.Kind_List || ln.Length() == 0 {
		return nil, fmt.Errorf("%w: no location list", ErrInvalidClaim)
	}
	it := ln.ListIterator()
	for !it.Done() {
		_, v, err := it.Next()
		if err != nil {
			return nil, fmt.Errorf("%w: location: %w", ErrInvalidClaim, err)
		}
		s, err := v.AsString()
		if err != nil {
			return nil, fmt.Errorf("%w: a location is not a string", ErrInvalidClaim)
		}
		cl.Location = append(cl.Location, s)
	}
	if sn, err := inv.Args.LookupByString("size"); err == nil {
		if cl.Size, err = sn.AsInt(); err != nil {
			return nil, fmt.Errorf("%w: size is not an int", ErrInvalidClaim)
		}
	}
	return cl, nil
}
