package archive

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"

	"github.com/w3dag/w3dag/blob"
	"github.com/w3dag/w3dag/message"
)

// Schema sources in the archive: a replay needs the schema extensions the service ran with,
// so they are archived as blobs, outside the messages.
const (
	// SchemaPrefix starts the blob key of each schema source: schema/<CID>, the CIDv1
	// (raw codec, sha2-256) of its text.
	SchemaPrefix = "schema/"
	// SchemaSetPrefix starts the blob key of each record of the sources a service started
	// with: schema/set/<after, 20 digits>.json.
	SchemaSetPrefix = "schema/set/"
	// MaxSchemaSize bounds a schema source read back, in bytes (1 MiB).
	MaxSchemaSize = 1 << 20
	// MaxSchemaSetSize bounds a schema set record read back, in bytes.
	MaxSchemaSetSize = 1 << 20
)

// SchemaSource is one schema source of a set: its name (as the service loaded it) and the
// CID of its text (SchemaKey).
type SchemaSource struct {
	Name string  `json:"name"`
	CID  cid.Cid `json:"-"`
}

// SchemaSet records the schema sources a service started with, in load order.
type SchemaSet struct {
	// After is the last commit sequence before the service started with these sources:
	// receipts with a higher meta.seq were issued under them (until the next set).
	After uint64 `json:"after"`
	// Sources are the sources, in load order (the system schema first).
	Sources []SchemaSource `json:"sources"`
}

type schemaSourceJSON struct {
	Name string `json:"name"`
	CID  string `json:"cid"`
}

type schemaSetJSON struct {
	After   uint64             `json:"after"`
	Sources []schemaSourceJSON `json:"sources"`
}

// SchemaKey is the blob key of the schema source with CID c.
func SchemaKey(c cid.Cid) string { return SchemaPrefix + c.String() }

func schemaSetKey(after uint64) string { return fmt.Sprintf("%s%020d.json", SchemaSetPrefix, after) }

// PutSchemas archives the schema sources a service starts with, texts keyed by name in
// load order, after the commit sequence after: each text at SchemaKey (content-addressed;
// writing it again is harmless), then the set at schema/set/<after>.json — unless the
// latest set recorded has the same sources, in which case nothing new is recorded. It
// returns the set in effect.
func (a *Archive) PutSchemas(ctx context.Context, after uint64, names []string, texts [][]byte) (SchemaSet, error) {
	if len(names) != len(texts) {
		return SchemaSet{}, fmt.Errorf("%w: %d schema names for %d texts", ErrWrite, len(names), len(texts))
	}
	set := SchemaSet{After: after}
	for i, text := range texts {
		c := message.Sum(message.CodecRaw, text)
		digest, err := multihash.Decode(c.Hash())
		if err != nil {
			return SchemaSet{}, fmt.Errorf("%w: schema %s: %w", ErrWrite, names[i], err)
		}
		err = a.blobs.Put(ctx, SchemaKey(c), bytes.NewReader(text), blob.PutOptions{Size: int64(len(text)), SHA256: digest.Digest})
		if err != nil {
			return SchemaSet{}, fmt.Errorf("%w: schema %s: %w", ErrWrite, names[i], err)
		}
		set.Sources = append(set.Sources, SchemaSource{Name: names[i], CID: c})
	}
	sets, err := a.SchemaSets(ctx)
	if err != nil {
		return SchemaSet{}, err
	}
	if n := len(sets); n > 0 && slices.EqualFunc(sets[n-1].Sources, set.Sources, func(x, y SchemaSource) bool {
		return x.Name == y.Name && x.CID.Equals(y.CID)
	}) {
		return sets[n-1], nil
	}
	rec := schemaSetJSON{After: after}
	for _, s := range set.Sources {
		rec.Sources = append(rec.Sources, schemaSourceJSON{Name: s.Name, CID: s.CID.String()})
	}
	data, err := json.Marshal(rec)
	if err != nil {
		return SchemaSet{}, fmt.Errorf("%w: schema set: %w", ErrWrite, err)
	}
	if err := a.blobs.Put(ctx, schemaSetKey(after), bytes.NewReader(data), blob.PutOptions{Size: int64(len(data))}); err != nil {
		return SchemaSet{}, fmt.Errorf("%w: schema set: %w", ErrWrite, err)
	}
	a.log.DebugContext(ctx, "archived the schema set", "after", after, "sources", len(set.Sources))
	return set, nil
}

// SchemaSets returns the recorded schema sets, oldest first (by After). A record that
// does not parse is ErrCorrupt naming it.
func (a *Archive) SchemaSets(ctx context.Context) ([]SchemaSet, error) {
	var keys []string
	err := a.blobs.List(ctx, SchemaSetPrefix, func(info blob.Info) error {
		if strings.HasSuffix(info.Key, ".json") {
			keys = append(keys, info.Key)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing schema sets: %w", err)
	}
	slices.Sort(keys)
	var sets []SchemaSet
	for _, k := range keys {
		data, err := readBlob(ctx, a.blobs, k, MaxSchemaSetSize)
		if err != nil {
			return nil, err
		}
		var rec schemaSetJSON
		if err := json.Unmarshal(data, &rec); err != nil {
			return nil, fmt.Errorf("%w: schema set %s: %v", ErrCorrupt, k, err)
		}
		set := SchemaSet{After: rec.After}
		for _, s := range rec.Sources {
			c, err := cid.Decode(s.CID)
			if err != nil {
				return nil, fmt.Errorf("%w: schema set %s: source %q: %v", ErrCorrupt, k, s.Name, err)
			}
			set.Sources = append(set.Sources, SchemaSource{Name: s.Name, CID: c})
		}
		sets = append(sets, set)
	}
	return sets, nil
}

// Schema returns the text of the schema source with CID c, checked against it;
// ErrNotFound when the archive does not hold it.
func (a *Archive) Schema(ctx context.Context, c cid.Cid) ([]byte, error) {
	data, err := readBlob(ctx, a.blobs, SchemaKey(c), MaxSchemaSize)
	if err != nil {
		return nil, err
	}
	return checked(c, data)
}

// readBlob reads the blob key of blobs, at most limit bytes: more is ErrCorrupt, a missing
// blob ErrNotFound.
func readBlob(ctx context.Context, blobs blob.Store, key string, limit int64) ([]byte, error) {
	rc, info, err := blobs.Get(ctx, key, nil)
	if errors.Is(err, blob.ErrNotFound) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, key)
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", key, err)
	}
	defer rc.Close()
	if info.Size > limit {
		return nil, fmt.Errorf("%w: %s is %d bytes, more than %d", ErrCorrupt, key, info.Size, limit)
	}
	data, err := io.ReadAll(io.LimitReader(rc, limit+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", key, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%w: %s is more than %d bytes", ErrCorrupt, key, limit)
	}
	return data, nil
}
