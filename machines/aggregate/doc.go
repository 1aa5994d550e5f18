// Package aggregate is the machine of the aggregate collection (DESIGN §4, issue 8 item 5):
// FRC-0058 aggregates of the service's computed pieces, at /<service>/aggregate/<key>.
//
// # States
//
//	ingesting{pieces, size} → ready{aggregate, pieces, size} → deal_pending{aggregate, pieces, size}
//	  → deal_processed{aggregate, pieces, size, deal} | failed{reason}
//
// pieces are the members' v2 piece CIDs in the order they were computed; size is the sum
// of their padded sizes (schema: AggregateIngesting.size). The aggregate's payload, the
// quantity the bounds apply to, is in Filecoin's "unpadded piece size" vocabulary (notes
// filecoin.md, size traps): each member counts its unpadded piece size 127·2^k =
// padded·127/128 (the deal payload bytes its tree occupies, its own zero padding
// included), so payload = size/128·127. ready adds the aggregate's v2 piece CID,
// computed from the members' piece CIDs alone (piece.NewAggregate); its padded size
// (32·2^height, in the CID) is the deal size: the smallest power of two, at least
// piece.MinDealSize, whose pieces region (before the FRC-0058 index at the end) holds
// the members placed in order and whose index has an entry for each. The schema is
// unchanged.
//
// # Keys
//
// Keys are a sequence number, 16 decimal digits zero-padded ("0000000000000001", …), taken
// from a kv counter when an aggregate starts, so an aggregate/ select lists aggregates in
// creation order and key order alike.
//
// # Joining
//
// The piece machine calls Machine.Add (as its piece.Aggregator) in the transaction that
// moves a piece queued → computed, so a computed piece is in an aggregate exactly when
// its computed receipt exists. Add puts the piece in the oldest ingesting aggregate it
// fits (first fit in creation order; usually there is one) or, if it fits none, in a new
// one. A piece fits when, with it, the payload stays ≤ Bounds.Max, the members (placed
// in order, each at a multiple of its padded size) and their index fit a deal no larger
// than Bounds.DealSize, and the aggregate has fewer than MaxPieces members. So nothing
// is ever over the maximum, and an aggregate the piece does not fit keeps ingesting
// (waiting for smaller pieces) while the piece starts the next: an aggregate under the
// minimum is not closed while a piece can still join it, and nothing is lost. When the
// payload reaches Bounds.Min the aggregate becomes ready in the same transaction, and the
// next piece that does not fit an ingesting aggregate starts a new one. An aggregate
// that no piece can join any more, not even the smallest (128 padded bytes), is ready
// too, under the minimum: its members reached MaxPieces (the bound that keeps the state,
// and so each receipt, under ucan.MaxTokenSize) or the entries of the largest deal's
// FRC-0058 index (4 in deals up to 512 KiB: kilobyte bounds make small aggregates), or
// its pieces left no room; otherwise its pieces would wait for ever. Each change of the aggregate entry is a receipt whose ran is the invocation of the
// piece's compute task (the cause), linked to the previous one by origin.
//
// The transaction that makes an aggregate ready also adds 1 to the service's counter
// metrics.AggregateReadyTotal (aggregate/ready-total) and the members' payload bytes
// (the CARs' sizes, from their piece CIDs) to metrics.AggregateReadySizeTotal
// (aggregate/ready-size-total).
//
// A piece that fits no aggregate even alone (payload over Bounds.Max: a CAR larger than
// the largest deal's payload) is not aggregated: it stays computed, Add changes nothing,
// and Fits tells why.
//
// # Moving the members
//
// A ready aggregate can have up to MaxPieces members, too many receipts for the
// transaction that closes it (and that piece's own computed receipt is not issued until
// that transaction's operation ends). So the closing transaction schedules a durable task
// (machines/task, IncludeCommand, args {path: the aggregate}) and lists it in the fx of
// the closing piece's computed receipt (dag.Tx.Effect). The task's handler
// (IncludeHandler) rebuilds the aggregate from its members' piece CIDs, and moves each
// member piece entry computed → aggregated{piece, aggregate, aggregateKey, inclusion} with a system
// write whose ran is the task's invocation and whose origin is the piece's computed
// receipt, in transactions of at most MovesPerTx pieces. inclusion is the FRC-0058
// inclusion proof of the piece in the aggregate, as the DAG-CBOR bytes of
// piece.InclusionProof.MarshalBinary (the schema's inclusion is Any). A member already
// aggregated in this aggregate is skipped, so a task run again after a crash or a lost
// lease finishes the work without repeating any receipt.
//
// # Offers and deals (docs/broker.md)
//
// When the include task has moved every member to aggregated it applies EventIncluded to
// the aggregate (Engine.Transition under the include task's invocation). With offers on
// (WithOffers: serve --broker) the aggregate, still ready, gets a receipt of the same
// state whose fx is the offer task it schedules (OfferCommand, args {path}); without
// offers nothing changes and the aggregate stays ready. The offer task's handler
// (OfferHandler) takes the md5 of each member CAR from the piece index (hashed in the
// same pass as its commP; for a piece indexed before that it streams the CAR from blob
// storage),
// POSTs the offer and, when the broker answers 200 or 202, applies EventOffered:
// ready → deal_pending (ran: the offer task). A broker that cannot be reached or answers
// 5xx, 408 or 429 is retried with the runner's capped backoff until it acknowledges,
// however many attempts that takes (task.KeepTrying); another 4xx is a refusal: the
// offer task fails for good with the broker's answer (ErrRefused) and the aggregate
// stays ready. At start, serve --broker calls Machine.ResumeOffers: every ready
// aggregate whose last offer task is failed or missing (or that became ready while
// offers were off) gets a receipt of the same state, ran by a self-issued ResumeCommand
// invocation, whose fx is a new offer task (EventResume). An aggregate is offered at most
// once in the end: later offer tasks find it no longer ready.
//
// A broker report (Report, from POST /broker/report/{aggregate}) is recorded under a
// self-issued ReportCommand invocation: a deal makes the aggregate deal_processed{deal},
// adds 1 to metrics.AggregateDealTotal and schedules DealtCommand (in the receipt's fx),
// whose handler moves each member aggregated → dealt{piece, aggregate, aggregateKey, inclusion, deal}
// (ran: that task), MovesPerTx per transaction. A failure makes it failed{reason} and
// schedules RequeueCommand, whose handler moves each member that is still aggregated in
// it back to computed{piece} (a receipt, ran: that task) and adds it again, in member
// order, in the same transaction, exactly as a newly computed piece: into the oldest
// ingesting aggregate it fits (which may become ready and be included, offered, …) or a
// new one. The same report again changes nothing; any other report on an aggregate that
// is not deal_pending is ErrConflict. Like the include task's moves, each piece receipt of
// the dealt and requeue tasks is archived as a reply of the task's invocation
// (dag.Tx.Reply), so that a replay of the archive finds where and when each was
// committed.
//
// # kv keys (prefix aggregate/, listed in package dag's documentation)
//
//	aggregate/seq                       last aggregate sequence number (BE8)
//	aggregate/open/<key>                ingesting aggregates: placement end, members,
//	                                    padded size (3 × BE8)
//	aggregate/member/<key>/<i BE4>      the CAR CID (bytes) of member i: its piece entry
//	aggregate/piece/<CAR CID>           the aggregate key of a CAR's piece (Add is a no-op
//	                                    for a piece already in an aggregate; deleted when a
//	                                    failed aggregate's member is requeued)
//	aggregate/cid/<aggregate piece CID> the key of the ready aggregate with that piece CID
//	                                    (Lookup, broker reports); a later aggregate with the
//	                                    same piece CID (the same pieces in the same order,
//	                                    after a failure) takes it over
//
// Package aggregate imports dag, collection, blob, the machines piece (paths and statuses),
// carwhere (blob keys), metrics and task, internal/nodefield (the fields of states and
// args) and the commP package github.com/w3dag/w3dag/piece; machines/piece does not import it (it declares the Aggregator interface this package implements). It
// must not import server, ops or cmd.
package aggregate
