// Package nodefield reads the typed fields of an IPLD map node (a state, an invocation's
// args): Get, Int, String and Link, each failing with ErrNotMap, ErrMissing or ErrKind
// and naming the field, so that the machines that decode such maps share one reading
// of them and wrap its errors with their own sentinels.
//
// It imports only go-ipld-prime, go-cid and the standard library, nothing of w3dag's.
package nodefield
