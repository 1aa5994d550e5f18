package conformance

import (
	"context"
	"path"
	"slices"

	"github.com/ipld/go-ipld-prime/datamodel"
	"github.com/ipld/go-ipld-prime/fluent"
	"github.com/ipld/go-ipld-prime/node/basicnode"

	"github.com/w3dag/w3dag/client"
)

func caseSelectPages(ctx context.Context, t T, target Target) {
	e := setup(ctx, t, target)
	const n, limit = 7, 3
	var want []string
	for i := range n {
		p, v := e.entry(i)
		e.put(ctx, p, v)
		want = append(want, path.Base(p))
	}
	var got []string
	q := client.Query{Limit: limit}
	for pages := 0; ; pages++ {
		if pages > n {
			t.Fatalf("select did not end after %d pages", pages)
		}
		page, err := e.c.Select(ctx, e.collection(), q)
		if err != nil {
			t.Fatalf("select page %d: %v", pages, err)
		}
		for _, en := range page.Entries {
			got = append(got, entryKey(en))
		}
		if page.Cursor == "" {
			break
		}
		if len(got) < n && len(page.Entries) != limit {
			t.Errorf("page %d has %d entries while more exist, want %d (full pages)", pages, len(page.Entries), limit)
		}
		q.Cursor = page.Cursor
	}
	if !slices.Equal(got, want) {
		t.Errorf("select listed %v, want %v (insertion order)", got, want)
	}
	all, err := e.c.Select(ctx, e.collection(), client.Query{Limit: client.MaxSelectLimit})
	if err != nil {
		t.Fatalf("select: %v", err)
	}
	if len(all.Entries) != n || all.Cursor != "" {
		t.Errorf("select with limit %d: %d entries, cursor %q; want %d and no cursor", client.MaxSelectLimit, len(all.Entries), all.Cursor, n)
	}
	big := e.invoke(ctx, e.space.DID(), client.CmdSelect, selectArgs(e.target.Collection, client.MaxSelectLimit+1), e.root)
	if big.Error == nil {
		t.Errorf("select with limit %d succeeded, want an error receipt", client.MaxSelectLimit+1)
	}
}

func selectArgs(rel string, limit int) datamodel.Node {
	return fluent.MustBuildMap(basicnode.Prototype.Map, 2, func(ma fluent.MapAssembler) {
		ma.AssembleEntry("path").AssignString(rel)
		ma.AssembleEntry("limit").AssignInt(int64(limit))
	})
}

// entryKey is a page entry's key, from "key" or the last segment of "path".
func entryKey(en client.PageEntry) string {
	if en.Key != "" {
		return en.Key
	}
	return path.Base(en.Path)
}
