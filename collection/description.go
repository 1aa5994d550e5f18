package collection

import "slices"

// Description is what a service says of its DAG (the JSON body of GET /schema): the
// collections of spaces and of the service, each sorted by name, and the IPLD schema
// sources they are declared in. The server writes it and the client reads it.
type Description struct {
	Collections struct {
		Space   []Info `json:"space"`
		Service []Info `json:"service"`
	} `json:"collections"`
	Sources []Source `json:"sources"`
}

// Info describes one collection in a Description.
type Info struct {
	// Name is the path segment, e.g. "store".
	Name string `json:"name"`
	// Key is the key rule as KeyRule.String writes it: "string", "cid" or "car-cid".
	Key string `json:"key"`
	// KeyField names the link field of the input that must equal the key ("" for none).
	KeyField string `json:"keyField,omitempty"`
	// Writers is who may put and remove entries, as Writers.String writes it:
	// "authority" (any agent with a UCAN chain from the subject) or "service".
	Writers string `json:"writers"`
	// Input is the schema type of put values; State the type of entry states.
	Input string `json:"input"`
	State string `json:"state"`
	// Statuses are the values of the state's "status", in schema order.
	Statuses []string `json:"statuses"`
	// SchemaOnly is true for collections declared by a schema extension alone, run by the
	// generic record machine (put → done, remove → removed).
	SchemaOnly bool `json:"schemaOnly"`
	// Machine is true for collections with a machine of their own; false for schema-only
	// ones and for those whose entries the service writes itself (usage records, tasks).
	Machine bool `json:"machine"`
	// PublicRead is true for service collections any signed invocation may read without
	// a delegation (when the service has public reads on; Spec.PublicRead).
	PublicRead bool `json:"publicRead,omitempty"`
}

// Source is one IPLD schema source: its name (a file name, "system.ipldsch" for the
// system schema) and its DSL text.
type Source struct {
	Name string `json:"name"`
	Text string `json:"text"`
}

// Info returns the part of a collection's Info its Spec says: name, key rule, key field,
// writers and public reads.
func (s Spec) Info() Info {
	return Info{Name: s.Name, Key: s.Key.String(), KeyField: s.KeyField, Writers: s.Writers.String(), PublicRead: s.PublicRead}
}

// Collection returns the collection name of subject kind subject ("space" or "service"),
// if d has it.
func (d *Description) Collection(subject, name string) (Info, bool) {
	var cols []Info
	switch subject {
	case "space":
		cols = d.Collections.Space
	case "service":
		cols = d.Collections.Service
	}
	for _, c := range cols {
		if c.Name == name {
			return c, true
		}
	}
	return Info{}, false
}

// Check reports what is wrong with d, if anything: a collection without a valid name,
// with a key rule or writers this package does not know, or without input and state
// types; a source without a name.
func (d *Description) Check() error {
	for _, group := range []struct {
		subject string
		cols    []Info
	}{{"space", d.Collections.Space}, {"service", d.Collections.Service}} {
		for i, c := range group.cols {
			if err := CheckName(c.Name); err != nil {
				return specError("%s collection %d: %v", group.subject, i, err)
			}
			if !slices.Contains([]string{KeyString.String(), KeyCID.String(), KeyCARCID.String()}, c.Key) {
				return specError("%s collection %s: key rule %q is not string, cid or car-cid", group.subject, c.Name, c.Key)
			}
			if !slices.Contains([]string{Authority.String(), ServiceOnly.String()}, c.Writers) {
				return specError("%s collection %s: writers %q is not authority or service", group.subject, c.Name, c.Writers)
			}
			if c.Input == "" || c.State == "" {
				return specError("%s collection %s: input and state types are required", group.subject, c.Name)
			}
		}
	}
	for i, s := range d.Sources {
		if s.Name == "" {
			return specError("schema source %d has no name", i)
		}
	}
	return nil
}
