// Package policy implements the UCAN 1.0 policy language: the list of
// statements carried in a delegation's "pol" field, the jq-like selectors
// those statements use, and the evaluation of a policy against an
// invocation's arguments.
//
// A Policy is parsed from its IPLD list form with Parse and turned back into
// that form with Policy.Node. Evaluation follows the specification rather than
// go-ucan where the two differ: integers and floats compare numerically
// (1 == 1.0), "all" and "any" range over the values of maps as well as the
// elements of lists, and an optional selector that finds nothing yields null,
// which is then compared like any other value.
//
// Policies arrive inside untrusted tokens, so parsing enforces the limits
// MaxDepth, MaxStatements, MaxSelectorLength and MaxValueDepth, and matching
// is bounded by MaxMatchSteps. Matching never panics or fails: a statement
// that cannot be evaluated (unresolvable selector, wrong kinds, budget
// exceeded) is simply false; Policy.Check says which statement it was.
//
// This package imports nothing of w3dag's; it depends only on go-ipld-prime
// and go-cid.
package policy
