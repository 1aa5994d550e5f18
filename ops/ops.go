package ops

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/datamodel"

	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/receipts"
	"github.com/w3dag/w3dag/ucan"
	"github.com/w3dag/w3dag/ucan/did"
	"github.com/w3dag/w3dag/ucan/policy"
)

// The commands ops runs.
const (
	CmdPut    = "/dag/put"
	CmdGet    = "/dag/get"
	CmdRemove = "/dag/remove"
	CmdSelect = "/dag/select"
	// CmdUnknown is the Outcome.Command of invocations of any other command.
	CmdUnknown = "unknown"
)

// Engine is what ops needs of the dag engine; *dag.Engine implements it.
type Engine interface {
	Put(ctx context.Context, inv *ucan.Token, p dag.Path, value datamodel.Node, opts ...dag.OpOption) (*dag.Result, error)
	Get(ctx context.Context, inv *ucan.Token, p dag.Path) (*dag.Result, error)
	Remove(ctx context.Context, inv *ucan.Token, p dag.Path, opts ...dag.OpOption) (*dag.Result, error)
	Select(ctx context.Context, inv *ucan.Token, p dag.Path, q dag.Query) (*dag.Result, error)
	Fail(ctx context.Context, inv *ucan.Token, ferr error, opts ...dag.OpOption) (*dag.Result, error)
	// Canonical checks a parsed path against the collections and normalises its key.
	Canonical(p dag.Path) (dag.Path, error)
}

// Options configure Ops. Engine and Signer are required.
type Options struct {
	Engine Engine
	// Signer is the service's key: its DID is the service subject and the only
	// acceptable audience, and it signs the receipts of refused invocations.
	Signer did.Signer
	// Validator checks proof chains; nil builds one with ucan's defaults (and its cache of
	// verified delegations). Share one Validator so the cache is shared.
	Validator *ucan.Validator
	// Clock stamps the receipts of refused invocations; nil uses time.Now.
	Clock func() time.Time
	// Seal chooses the UCAN tag version of those receipts; the zero value emits @1.0.0.
	Seal ucan.SealOptions
	// Logger receives internal failures; nil discards.
	Logger *slog.Logger
	// PublicRead reports whether a path of the service subject may be read (dag/get,
	// dag/select, watch) by any validly signed invocation without a proof: one whose
	// signature verifies, that has not expired and whose aud, when present, is the service
	// (its proofs are not consulted). Writes are never public. nil makes no path public:
	// every read of the service needs a chain from it. The composition root passes
	// (*dag.Engine).PublicRead (collection.Spec.PublicRead), or nil when the operator turns
	// public reads off.
	PublicRead func(dag.Path) bool
	// MessageWork is the steps one message's Budget holds (LimitMessageWork); zero means
	// DefaultMessageWork.
	MessageWork int
	// MessageProofs is the proofs one message's Budget holds (LimitMessageProofs); zero
	// means DefaultMessageProofs.
	MessageProofs int
	// MessageReplyBytes is the select page bytes one message's Budget holds
	// (LimitMessageReply); zero means DefaultMessageReplyBytes.
	MessageReplyBytes int
	// SelectPageBytes is the byte budget of one select page (dag.Query.MaxBytes); zero
	// means dag.DefaultSelectPageBytes.
	SelectPageBytes int
}

// Ops runs invocations. It is safe for concurrent use.
type Ops struct {
	engine    Engine
	signer    did.Signer
	service   string
	validator *ucan.Validator
	clock     func() time.Time
	seal      ucan.SealOptions
	log       *slog.Logger
	public    func(dag.Path) bool
	work      int
	maxProofs int
	maxReply  int
	pageBytes int
}

// New returns Ops for opts.
func New(opts Options) (*Ops, error) {
	if opts.Engine == nil || opts.Signer == nil {
		return nil, fmt.Errorf("%w: Engine and Signer are required", ErrConfig)
	}
	o := &Ops{
		engine:    opts.Engine,
		signer:    opts.Signer,
		service:   opts.Signer.DID(),
		validator: opts.Validator,
		clock:     opts.Clock,
		seal:      opts.Seal,
		log:       opts.Logger,
		public:    opts.PublicRead,
		work:      opts.MessageWork,
		maxProofs: opts.MessageProofs,
		maxReply:  opts.MessageReplyBytes,
		pageBytes: opts.SelectPageBytes,
	}
	if o.work <= 0 {
		o.work = DefaultMessageWork
	}
	if o.maxProofs <= 0 {
		o.maxProofs = DefaultMessageProofs
	}
	if o.maxReply <= 0 {
		o.maxReply = DefaultMessageReplyBytes
	}
	if o.pageBytes <= 0 {
		o.pageBytes = dag.DefaultSelectPageBytes
	}
	if o.validator == nil {
		o.validator = ucan.NewValidator(ucan.ValidatorOptions{Now: opts.Clock})
	}
	if o.clock == nil {
		o.clock = time.Now
	}
	if o.log == nil {
		o.log = slog.New(slog.DiscardHandler)
	}
	return o, nil
}

// Outcome is the result of running one invocation.
type Outcome struct {
	// Receipt is the signed receipt for the invocation.
	Receipt *ucan.Token
	// Command is the invocation's command when it is one of the four, CmdUnknown
	// otherwise (safe as a metrics label).
	Command string
	// Result is "ok" or the receipt's error name.
	Result string
	// Repeat is true when the task ran before and its stored result was returned.
	Repeat bool
	// Stored is false for receipts that are not kept: those of refused invocations, of
	// gets and of selects.
	Stored bool
	// Blocks are blocks the reply must carry with the receipt: the head receipt of a get,
	// the page block of a select.
	Blocks []dag.Block
}

// Checked is an invocation whose command, authority and arguments Check examined, ready
// for Exec. Checking writes nothing, so it may run while the message carrying the
// invocation is still being archived.
type Checked struct {
	inv     *ucan.Token
	cmd     string
	invalid error // not an invocation at all: Exec returns it, no receipt
	refusal error // may not run: an error receipt, not stored
	failure error // authorised, but the arguments are unusable: a stored error receipt
	path    dag.Path
	args    args
	// allow is the per-entry policy check of reads (nil: every entry is allowed).
	allow func(dag.Path) (bool, error)
}

// Invocation returns the checked invocation.
func (c *Checked) Invocation() *ucan.Token { return c.inv }

// Refusal returns the error name of the refusal when the invocation may not run (its
// receipt is an error that is not stored), "" when it runs (successfully or as a stored
// failure).
func (c *Checked) Refusal() string {
	if c.refusal == nil {
		return ""
	}
	return ErrorName(c.refusal)
}

// Writes reports whether Exec runs the invocation as a write operation of the engine
// (a put or remove, or the stored error receipt of an authorised invocation whose
// arguments are unusable: Engine.Fail), so that the options given to ExecWith
// (dag.WithPreWrite) take effect in the transaction that runs it; false for reads (get,
// select: no transaction), refusals (an unstored receipt) and invalid tokens (an error).
func (c *Checked) Writes() bool {
	if c.invalid != nil || c.refusal != nil {
		return false
	}
	return c.failure != nil || c.cmd == CmdPut || c.cmd == CmdRemove
}

// Check examines inv with its proofs: the command, the audience, the UCAN chain, the
// arguments and the collection rules. It does no I/O. Its work is drawn from b, the Budget
// of the message inv came in (nil: a fresh Budget for inv alone), cheapest first: the proof
// count and the size of the args, then the path in canonical form, then the chain, whose
// policies are matched against the args with args.path made canonical — so that another
// spelling of the same path (a CID in another base) cannot slip past a policy — and, for a
// path below an entry, against the entry's path too.
func (o *Ops) Check(inv *ucan.Token, proofs ucan.Loader, b *Budget) *Checked {
	c := &Checked{inv: inv}
	if inv == nil || inv.Invocation == nil {
		c.invalid = errors.New("ops: an invocation token is required")
		return c
	}
	c.cmd = inv.Invocation.Command
	switch c.cmd {
	case CmdPut, CmdGet, CmdRemove, CmdSelect:
	default:
		c.refusal = fmt.Errorf("%w: %q is not one of %s, %s, %s, %s",
			ErrUnknownCommand, c.cmd, CmdPut, CmdGet, CmdRemove, CmdSelect)
		c.cmd = CmdUnknown
		return c
	}
	if b == nil {
		b = o.NewBudget()
	}
	in := inv.Invocation
	if err := b.charge(in); err != nil {
		c.refusal = err
		return c
	}
	a, aerr := decodeArgs(c.cmd, in)
	var p dag.Path
	perr := aerr
	if aerr == nil {
		p, perr = o.path(in.Subject, a.path)
	}
	if perr == nil && o.isPublic(c.cmd, in, p) {
		if err := o.authorizeUnproven(inv); err != nil {
			c.refusal = err
			return c
		}
		c.path, c.args = p, a
		if c.cmd == CmdSelect {
			var err error
			if c.args.query.MaxBytes, err = b.pageBytes(o.pageBytes); err != nil {
				c.refusal = err
			}
		}
		return c
	}
	var canon datamodel.Node
	if perr == nil {
		canon = withPath(in.Args, p.Rel())
	}
	pols, err := o.authorize(inv, proofs, canon, b)
	if err != nil {
		c.refusal = err
		if perr == nil && (c.cmd == CmdGet || c.cmd == CmdSelect) {
			c.refusal = o.explainPrivate(c.refusal, in, p)
		}
		return c
	}
	if aerr != nil {
		c.failure = aerr
		return c
	}
	if perr != nil {
		c.failure = perr
		return c
	}
	if len(p.Fields) > 0 {
		if err := matchAll(pols, withPath(in.Args, p.Entry().Rel()), b); err != nil {
			c.refusal = entryRefusal(err, p.Entry())
			return c
		}
	}
	if p.Subject == o.service && (c.cmd == CmdPut || c.cmd == CmdRemove) && in.Issuer != o.service {
		c.refusal = &ucan.Error{Name: ucan.InvalidClaim,
			Message: fmt.Sprintf("collections of the service %s are written by the service only", o.service)}
		return c
	}
	c.path, c.args = p, a
	if c.cmd == CmdSelect {
		if c.args.query.MaxBytes, err = b.pageBytes(o.pageBytes); err != nil {
			c.refusal = err
			return c
		}
	}
	if c.cmd == CmdSelect && hasStatements(pols) {
		c.allow = entryFilter(pols, in.Args, b)
		c.args.query.Allow = c.allow
	}
	return c
}

// Exec runs a checked invocation that arrived in agent message msg (cid.Undef when it did
// not come in a message) and returns its receipt. Failures of the invocation are error
// receipts; the error return is for internal failures that left no receipt.
func (o *Ops) Exec(ctx context.Context, c *Checked, msg cid.Cid) (Outcome, error) {
	return o.ExecWith(ctx, c, msg)
}

// ExecWith is Exec with extra options for the engine's write operation (replay:
// dag.WithTime, dag.WithTurn; the server: dag.WithPreWrite); reads and refusals do not
// use them (Checked.Writes tells which).
func (o *Ops) ExecWith(ctx context.Context, c *Checked, msg cid.Cid, extra ...dag.OpOption) (Outcome, error) {
	if c.invalid != nil {
		return Outcome{}, c.invalid
	}
	if c.refusal != nil {
		return o.refuse(c.inv, c.cmd, c.refusal)
	}
	opts := append([]dag.OpOption(nil), extra...)
	if msg.Defined() {
		opts = append(opts, dag.WithMessage(msg))
	}
	if c.failure != nil {
		return o.fail(ctx, c.inv, c.cmd, c.failure, opts)
	}
	var res *dag.Result
	var err error
	switch c.cmd {
	case CmdPut:
		res, err = o.engine.Put(ctx, c.inv, c.path, c.args.value, opts...)
	case CmdGet:
		res, err = o.engine.Get(ctx, c.inv, c.path)
	case CmdRemove:
		res, err = o.engine.Remove(ctx, c.inv, c.path, opts...)
	case CmdSelect:
		res, err = o.engine.Select(ctx, c.inv, c.path, c.args.query)
	}
	if err != nil {
		return Outcome{}, fmt.Errorf("running %s on %s: %w", c.cmd, c.path, err)
	}
	return outcome(c.cmd, res, c.cmd == CmdPut || c.cmd == CmdRemove), nil
}

// Run checks and runs inv, which arrived in agent message msg (cid.Undef when it did not
// come in a message), resolving its proofs through proofs: Exec(ctx, Check(inv, proofs,
// nil), msg).
func (o *Ops) Run(ctx context.Context, inv *ucan.Token, proofs ucan.Loader, msg cid.Cid) (Outcome, error) {
	return o.Exec(ctx, o.Check(inv, proofs, nil), msg)
}

// isPublic reports whether in, of command cmd, is a read of p, a public path of the service
// (Options.PublicRead). Invocations whose arguments or paths do not decode are never public:
// they need authority like any other, so that nobody without it gets a stored failure
// receipt.
func (o *Ops) isPublic(cmd string, in *ucan.Invocation, p dag.Path) bool {
	return o.public != nil && in.Subject == o.service && (cmd == CmdGet || cmd == CmdSelect) && o.public(p)
}

// explainPrivate adds to err, the refusal of a read of p by in, why no proof was not enough
// when that is the reason: in has no proofs, is not the service's own, and p is a path of
// the service that is not public to read. Other errors are returned as they are.
func (o *Ops) explainPrivate(err error, in *ucan.Invocation, p dag.Path) error {
	ue, ok := errors.AsType[*ucan.Error](err)
	if !ok || ue.Name != ucan.InvalidClaim || len(in.Proofs) != 0 || in.Subject != o.service || in.Issuer == o.service || p.Subject != o.service {
		return err
	}
	why := fmt.Sprintf("%s is not public to read", p)
	if o.public == nil {
		why = "this service has public reads turned off"
	}
	return &ucan.Error{Name: ue.Name, Err: ue.Err,
		Message: fmt.Sprintf("%s; %s, so reading it needs a delegation from the service", ue.Message, why)}
}

// authorizeUnproven checks the audience and the invocation's own validity (signature,
// exp), not its chain: for reads of public paths.
func (o *Ops) authorizeUnproven(inv *ucan.Token) error {
	if err := o.checkAudience(inv.Invocation); err != nil {
		return err
	}
	return o.validator.ValidateInvocation(inv)
}

// checkAudience checks that in is addressed to the service, when it is addressed at all.
func (o *Ops) checkAudience(in *ucan.Invocation) error {
	if in.Audience != "" && in.Audience != o.service {
		return &ucan.Error{Name: ucan.InvalidAudience,
			Message: fmt.Sprintf("invocation is addressed to %s, not to this service %s", in.Audience, o.service)}
	}
	return nil
}

// authorize checks the audience and the UCAN chain (which bounds the proof depth) of inv,
// matching its policies against args (nil: the invocation's own) within b, and returns the
// chain's policies.
func (o *Ops) authorize(inv *ucan.Token, proofs ucan.Loader, args datamodel.Node, b *Budget) ([]policy.Policy, error) {
	if err := o.checkAudience(inv.Invocation); err != nil {
		return nil, err
	}
	if proofs == nil {
		proofs = ucan.Proofs{}
	}
	pols, err := o.validator.ValidateWithin(inv, proofs, ucan.Within{Args: args, Budget: b.steps})
	if err != nil && errors.Is(err, policy.ErrTooComplex) {
		return nil, exceeded(LimitMessageWork, b.work, "matching the policies of the invocation's proofs spent the work the message had left")
	}
	return pols, err
}

// AuthorizeWatch checks that inv, with its proofs, may read the entries under p: its
// subject is p's, its command covers /dag/get, its chain is valid (or, when p is a public
// path of the service (Options.PublicRead), the invocation alone is: signature, exp and
// aud, without proofs), and its args.path (if any) contains p. It returns a *ucan.Error (or
// *dag.Error for a bad args.path) when not. Policies see args.path in canonical form.
//
// On success it returns the per-entry check of what the watch may show: the chain's
// policies matched against the args with args.path set to each entry's path, each within
// a fresh Budget (an entry they do not hold for, or that spends the budget, is not shown).
// A nil func allows every entry.
func (o *Ops) AuthorizeWatch(ctx context.Context, inv *ucan.Token, proofs ucan.Loader, p dag.Path) (func(dag.Path) bool, error) {
	if inv == nil || inv.Invocation == nil {
		return nil, &ucan.Error{Name: ucan.InvalidClaim, Message: "a watch needs an invocation"}
	}
	in := inv.Invocation
	if in.Subject != p.Subject {
		return nil, &ucan.Error{Name: ucan.InvalidSubject,
			Message: fmt.Sprintf("invocation subject %s is not the watched subject %s", in.Subject, p.Subject)}
	}
	if !ucan.CommandCovers(in.Command, CmdGet) {
		return nil, &ucan.Error{Name: ucan.InvalidClaim,
			Message: fmt.Sprintf("command %s does not cover %s", in.Command, CmdGet)}
	}
	b := o.NewBudget()
	if err := b.charge(in); err != nil {
		return nil, err
	}
	var scope *dag.Path
	if in.Args != nil && in.Args.Kind() == datamodel.Kind_Map {
		pn, err := in.Args.LookupByString("path")
		if err == nil {
			rel, err := pn.AsString()
			if err != nil {
				return nil, fmt.Errorf("%w: args.path must be a string", ErrInvalidArgs)
			}
			sp, err := o.path(in.Subject, rel)
			if err != nil {
				return nil, err
			}
			scope = &sp
		}
	}
	if o.public != nil && p.Subject == o.service && o.public(p) {
		if err := o.authorizeUnproven(inv); err != nil {
			return nil, o.explainPrivate(err, in, p)
		}
	} else {
		var canon datamodel.Node
		if scope != nil {
			canon = withPath(in.Args, scope.Rel())
		}
		pols, err := o.authorize(inv, proofs, canon, b)
		if err != nil {
			return nil, o.explainPrivate(err, in, p)
		}
		if scope != nil && !scope.Contains(p) {
			return nil, &ucan.Error{Name: ucan.InvalidClaim,
				Message: fmt.Sprintf("invocation is for %s, which does not contain %s", scope, p)}
		}
		if !hasStatements(pols) {
			return nil, nil
		}
		return func(ep dag.Path) bool {
			ok, err := entryFilter(pols, in.Args, o.NewBudget())(ep.Entry())
			return ok && err == nil
		}, nil
	}
	if scope != nil && !scope.Contains(p) {
		return nil, &ucan.Error{Name: ucan.InvalidClaim,
			Message: fmt.Sprintf("invocation is for %s, which does not contain %s", scope, p)}
	}
	return nil, nil
}

// path parses rel, relative to subject, and puts it in canonical form.
func (o *Ops) path(subject, rel string) (dag.Path, error) {
	p, err := dag.ParseRelative(subject, rel)
	if err != nil {
		return p, err
	}
	return o.engine.Canonical(p)
}

// refuse answers an invocation that is not allowed to run with an error receipt that is
// signed but not stored.
func (o *Ops) refuse(inv *ucan.Token, cmd string, err error) (Outcome, error) {
	name, msg := ErrorName(err), err.Error()
	var ue *ucan.Error
	if errors.As(err, &ue) {
		msg = ue.Message
	}
	r := receipts.Receipt{
		Ran: inv.CID,
		Out: receipts.Out{Err: &receipts.Failure{Name: name, Message: msg}},
		TS:  o.clock().UnixMilli(),
	}
	tok, ierr := receipts.Issue(o.signer, r, o.seal)
	if ierr != nil {
		return Outcome{}, fmt.Errorf("issuing %s receipt: %w", name, ierr)
	}
	return Outcome{Receipt: tok, Command: cmd, Result: name}, nil
}

// fail answers an authorised invocation whose arguments are unusable with a stored error
// receipt.
func (o *Ops) fail(ctx context.Context, inv *ucan.Token, cmd string, err error, opts []dag.OpOption) (Outcome, error) {
	res, ferr := o.engine.Fail(ctx, inv, err, opts...)
	if ferr != nil {
		return Outcome{}, fmt.Errorf("recording failure %q: %w", err, ferr)
	}
	return outcome(cmd, res, true), nil
}

func outcome(cmd string, res *dag.Result, stored bool) Outcome {
	result := "ok"
	if res.Out.Err != nil {
		result = res.Out.Err.Name
	}
	return Outcome{Receipt: res.Receipt, Command: cmd, Result: result, Repeat: res.Repeat, Stored: stored, Blocks: res.Blocks}
}
