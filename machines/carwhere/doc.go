// Package carwhere keeps where the bytes of each CAR live (DESIGN §4, seed 004
// "datawherehouse"): the service collection /<service>/carwhere/<CAR CID>, whose state is
// located{size, locations[]}, and the short-lived signed location claims materialised from
// it for GET /claims/{cid}.
//
// # Entries
//
// A located entry lists every place the CAR is held: the blob backend ("fs" or "s3"),
// bucket (or folder) and region when there are such things, the object key
// ("carpark/<cid>/<cid>.car", BlobKey) and the URIs the bytes can be fetched from. The
// store machine writes it with Record in the same transaction that moves a store entry to
// done, so "the bytes are held" and "the CAR is located" can never disagree. Record only
// adds: a location already known is merged (its URIs united), and a CAR's size never
// changes because the CID fixes the bytes. The entries are written by the service only;
// Machine serves dag/put of the collection (by the service) with the same merge rule and
// refuses dag/remove, since the schema has no removed state for carwhere.
//
// Locators build the Location of a CAR for a backend: FSLocator gives the service's own
// GET <public-url>/blob/<cid> URL, S3Locator the S3 object URL (path-style for self-hosted
// endpoints, virtual-hosted "https://<bucket>.s3.<region>.amazonaws.com/<key>" for AWS).
//
// # Location claims
//
// Internal locations may move, so clients never sign claims about them; the service
// materialises claims on demand (Claims, which implements the server's Claims interface)
// and keeps them short-lived, so moving bytes needs no revocation. A claim is a UCAN 1.0
// invocation token, not a delegation: it asserts a fact rather than granting authority.
//
//	iss = sub = the service DID, no aud
//	cmd  "/assert/location"
//	args {content: &<CAR CID>, location: [<URI>, …], size: <bytes>}
//	iat  now (unix seconds), exp = iat + ClaimsOptions.TTL (DefaultClaimTTL, 1 h)
//	nonce empty (a claim is a statement, not a task to run once)
//
// One claim is issued per location of the entry (each with that location's URIs).
// Claims are cached per CAR until ClaimRenewBefore ahead of their expiry, or until the
// carwhere entry changes (its head receipt differs), in a cache of at most
// MaxCachedClaims CARs.
//
// Package carwhere imports dag, ucan, internal/nodefield and go-ipld-prime; it must not import server, ops,
// cmd or any kv or blob backend.
package carwhere
