// Package collection says what a collection of the DAG is and how paths into it are
// written, so that the engine, the operations layer, the server and the client share one
// description and one grammar.
//
// A collection is described by one Spec: its name, the subjects that have it (spaces, the
// service, or both), how its keys are written (KeyRule), which field of a put value must
// equal the key (KeyField), who may write it (Writers) and the schema type of its entries
// (Type). Each machine package exports its collection as a dag.Collection, which is a
// Spec plus the machine; the composition root registers them all in one list.
//
// A path is /<subject DID>/<collection>/<key>[/<field>…] (Parse, ParseRelative). The
// grammar is checked here; keys are checked against their collection's KeyRule (and
// normalised) by Spec.CheckKey, which the engine applies once it knows the collection.
//
// Package collection imports nothing of w3dag; it must stay a leaf (go-cid only), because
// the client imports it.
package collection
