// Package schema holds the IPLD schema of the w3dag DAG, loads it together
// with schema authors' extensions, and validates values against its types.
//
// # The DAG
//
// The DAG is addressed as /<subject DID>/<collection>/<key>. A subject is a
// space (type Space) or the service itself (type Service); each field of
// those structs is a collection, a map {String:Entry} from entry keys to
// entries. The embedded system schema (system.ipldsch, see SystemSource)
// defines the built-in collections:
//
//	Space:   store, upload, usage, metrics
//	Service: carwhere, piece, aggregate, task, metrics
//
// An entry type is a struct with exactly two required fields:
//
//	type StoreEntry struct {
//	  input StoreInput   # what dag/put carries as its value
//	  state StoreStatus  # the out.ok of the entry's head receipt
//	}
//
// Every state type is an inline union on "status", so the status of any
// entry is read the same way, e.g. {"status": "pending", "url": …}.
// Collection describes each collection: its input and state type names, its
// statuses, whether only the service writes it and which input field holds
// the entry key.
//
// # Extensions
//
// Load(extra...) takes extension sources in the IPLD schema DSL. An
// extension adds collections to spaces by declaring a struct named Space;
// its fields are appended to the system Space:
//
//	type Space struct {
//	  notes {String:Note}
//	}
//
//	type Note struct {
//	  title String
//	  body  String
//	  tags  optional [String]
//	}
//
// The rules:
//
//   - Each field of the extension's Space is a new collection named by the
//     field (a letter, then letters, digits or _; at most
//     MaxCollectionName bytes). Its type must be a map {String:V}, neither
//     optional nor nullable. Names of built-in collections and of
//     collections added by an earlier extension are rejected.
//   - If V is a plain type, the collection is schema-only (Collection.Generic):
//     dag/put values must match V and the generic record machine runs it,
//     with state RecordStatus: put → {"status": "done", "value": <value>},
//     remove → {"status": "removed"}.
//   - If V is an entry struct {input I, state S}, the collection has its own
//     state type S, which must be an inline union with discriminantKey
//     "status"; such a collection needs a Go machine registered with the
//     engine.
//   - Extensions may refer to system types (e.g. Location) but must not
//     redefine them, nor the prelude types (String, Int, Any, Link, …), nor a
//     type of an earlier extension. Service cannot be extended. Type names
//     containing "__" are reserved for the compiler's anonymous types.
//   - Copy types (type A = B), unit types, advanced layouts, envelope
//     unions and other forms go-ipld-prime cannot compile are rejected.
//
// LoadSources takes named sources (Source{Name, Text}, the name usually the
// file name); Load takes unnamed ones, called "extension 0", "extension 1", ….
// Every error is a *LoadError wrapping ErrSchema that names the source and
// the line of the definition, field or syntax error at fault, and says which
// feature is unsupported where go-ipld-prime would only say "TODO":
//
//	pins.ipldsch:9: union Pin: representation "envelope" is not supported (use inline or keyed)
//	pins.ipldsch:8: type Pin field name: unknown type PinName
//
// testdata/invalid/*.ipldsch holds broken extensions with the exact error of
// each (*.err). Schema.Sources returns the sources of a loaded schema, the
// system schema first.
//
// # Validation
//
// Schema.Validate walks the compiled types over any datamodel.Node in its
// representation form, because go-ipld-prime's bindnode cannot handle
// inline unions. It follows the IPLD schema rules strictly: optional fields
// may be absent but not null, nullable fields may be null but not absent,
// unknown struct keys are rejected, floats are not ints, keyed unions have
// exactly one key. Any accepts every value, including null. One leniency:
// where the schema says Float, an Int (up to MaxExactFloatInt) is accepted,
// because DAG-JSON writers print 10.0 as 10; Schema.Normalize returns the
// value with those Ints turned into Floats, and that is what gets stored, so
// 10 and 10.0 give the same value CID. Errors are *ValidationError values
// naming the path inside the value and the type expected there, e.g.
//
//	at /shards/2 (type &Any): expected a link, got string
//
// MaxDepth bounds the nesting Validate walks.
//
// This package imports nothing of w3dag's; it must not import dag, ops,
// receipts, kv or any other package of the module.
package schema
