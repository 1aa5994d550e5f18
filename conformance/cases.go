package conformance

import (
	"github.com/ipld/go-ipld-prime/datamodel"

	"github.com/w3dag/w3dag/ucan"
)

// ValueFunc returns the key and the put value of the i-th distinct entry of a case.
type ValueFunc func(i int) (key string, value datamodel.Node)

// UCANErrorNames are the error names of UCAN validation failures.
var UCANErrorNames = []string{
	ucan.InvalidClaim, ucan.UnavailableProof, ucan.Expired, ucan.TooEarly,
	ucan.InvalidAudience, ucan.InvalidSubject, ucan.InvalidSignature, ucan.MatchError,
}

// Cases returns the suite, in the order Run runs it. Each case is a function in the
// cases_*.go file of its concern (put, receipts, select, auth, wire, watch, store), built
// on env.go (a fresh agent and space per case) and helpers.go; a new case is its function
// plus one line here.
func Cases() []Case {
	return []Case{
		{"service-did", caseServiceDID},
		{"put-get", casePutGet},
		{"put-same-value", casePutSameValue},
		{"select-full-pages", caseSelectPages},
		{"select-byte-pages", caseSelectBytePages},
		{"remove-then-put", caseRemoveThenPut},
		{"receipt-chain", caseReceiptChain},
		{"chain-pages", caseChainPages},
		{"batch-message", caseBatch},
		{"repeat-invocation", caseRepeat},
		{"delegation-chain", caseDelegationChain},
		{"container-body", caseContainerBody},
		{"dag-json-reply", caseDAGJSONReply},
		{"store-then-upload", caseStoreUpload},
		{"store-effects", caseStoreEffects},
		{"metrics-entries", caseMetricsEntries},
		{"unknown-collection", caseUnknownCollection},
		{"canonical-key", caseCanonicalKey},
		{"auth-no-proof", caseAuthNoProof},
		{"auth-expired-proof", caseAuthExpired},
		{"auth-other-space", caseAuthOtherSpace},
		{"auth-command-not-covered", caseAuthNotCovered},
		{"policy-canonical-path", casePolicyCanonicalPath},
		{"malformed-input", caseMalformed},
		{"watch", caseWatch},
		{"schema", caseSchema},
		{"service-public-read", caseServicePublicRead},
		{"piece-bytes", casePieceBytes},
		{"blob-range", caseBlobRange},
		{"blob-bad-cid", caseBlobBadCID},
		{"store-only-cars", caseStoreOnlyCARs},
		{"gateway", caseGateway},
		{"unixfs-round-trip", caseUnixFSRoundTrip},
		{"gateway-missing-path", caseGatewayMissingPath},
		{"gateway-barren-file", caseGatewayBarrenFile},
	}
}
