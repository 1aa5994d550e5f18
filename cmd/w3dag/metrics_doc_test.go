package main

import (
	"bufio"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/w3dag/w3dag/client"
	"github.com/w3dag/w3dag/internal/fixtures"
	"github.com/w3dag/w3dag/machines/metrics"
	"github.com/w3dag/w3dag/ucan/did"
)

// family is one metric family: its type and label names (sorted; "le" of histogram
// buckets left out).
type family struct {
	typ    string
	labels []string
}

// TestMetricsDocumented checks docs/metrics.md against the service composed by `w3dag
// serve`. It reads every counter the doc's dag/get table lists (which also makes every
// labelled /metrics family have a sample), then scrapes /metrics: every w3dag_* family
// exported must be in the doc's table with its type and labels, and every family the table
// lists must be exported. The dag/get table must list exactly machines/metrics.Names.
func TestMetricsDocumented(t *testing.T) {
	docFams, docPaths := readMetricsDoc(t)
	url := startServer(t)
	ctx := t.Context()

	// The dag/get table: exactly the counters the machines keep, under their Prometheus names.
	var names []string
	for name, prom := range docPaths {
		names = append(names, name)
		if prom != metrics.PromName(name) {
			t.Errorf("docs/metrics.md gives %s the Prometheus name %s, want %s", name, prom, metrics.PromName(name))
		}
	}
	slices.Sort(names)
	want := slices.Sorted(slices.Values(metrics.Names))
	if !slices.Equal(names, want) {
		t.Errorf("docs/metrics.md dag/get table lists %q, want machines/metrics.Names %q", names, want)
	}

	// Read each documented counter of a space, as the space itself (no proof needed).
	space, err := did.GenerateEd25519()
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(client.Options{URL: url, Signer: space})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		p := "/" + space.DID() + "/metrics/" + name
		r, err := c.Get(ctx, p)
		if err != nil {
			t.Fatalf("dag/get %s: %v", p, err)
		}
		if r.Status() != metrics.StatusCounter {
			t.Errorf("dag/get %s: status %q, want %q", p, r.Status(), metrics.StatusCounter)
		}
		v, err := c.Get(ctx, p+"/value")
		if err != nil {
			t.Fatalf("dag/get %s/value: %v", p, err)
		}
		if n, err := v.State().AsInt(); err != nil || n != 0 {
			t.Errorf("dag/get %s/value = %v, %v; want 0 in a fresh space", p, n, err)
		}
	}
	var re *client.ReceiptError
	if _, err := c.Get(ctx, "/"+space.DID()+"/metrics/store"); !errors.As(err, &re) || re.Name != "NotFound" {
		t.Errorf("dag/get of a metrics group: %v, want NotFound as documented", err)
	}

	exported := scrapeFamilies(t, url)
	for name, f := range exported {
		d, ok := docFams[name]
		if !ok {
			t.Errorf("/metrics exports %s (%s, labels %q), not in docs/metrics.md", name, f.typ, f.labels)
			continue
		}
		if d.typ != f.typ || !slices.Equal(d.labels, f.labels) {
			t.Errorf("%s: docs/metrics.md says %s with labels %q, /metrics has %s with labels %q", name, d.typ, d.labels, f.typ, f.labels)
		}
	}
	for name := range docFams {
		if _, ok := exported[name]; !ok {
			t.Errorf("docs/metrics.md lists %s, which /metrics does not export", name)
		}
	}
	if len(exported) < 8 {
		t.Errorf("only %d w3dag_* families scraped; the test is not reading /metrics", len(exported))
	}
}

// readMetricsDoc returns the families of the doc's /metrics table and, from its dag/get
// table, the Prometheus name of each counter.
func readMetricsDoc(t *testing.T) (map[string]family, map[string]string) {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join(fixtures.Root(t), "docs", "metrics.md"))
	if err != nil {
		t.Fatal(err)
	}
	promRow := regexp.MustCompile("(?m)^\\| `(w3dag_[a-z0-9_]+)` \\| ([a-z]+) \\| ([^|]*) \\|")
	pathRow := regexp.MustCompile("(?m)^\\| `/<did>/metrics/([a-z0-9/-]+)` \\| `(w3dag_[a-z0-9_]+)` \\|")
	label := regexp.MustCompile("`([a-z_]+)`")
	fams := map[string]family{}
	for _, m := range promRow.FindAllStringSubmatch(string(doc), -1) {
		f := family{typ: m[2]}
		for _, l := range label.FindAllStringSubmatch(m[3], -1) {
			f.labels = append(f.labels, l[1])
		}
		slices.Sort(f.labels)
		if _, dup := fams[m[1]]; dup {
			t.Errorf("docs/metrics.md lists %s twice", m[1])
		}
		fams[m[1]] = f
	}
	paths := map[string]string{}
	for _, m := range pathRow.FindAllStringSubmatch(string(doc), -1) {
		paths[m[1]] = m[2]
	}
	if len(fams) == 0 || len(paths) == 0 {
		t.Fatalf("docs/metrics.md: found %d /metrics rows and %d dag/get rows; the tables are not where the test looks", len(fams), len(paths))
	}
	return fams, paths
}

// scrapeFamilies reads the w3dag_* families of GET /metrics (text format): the type of
// each from its # TYPE line, and its label names from its samples.
func scrapeFamilies(t *testing.T, url string) map[string]family {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET /metrics: %s: %s", resp.Status, b)
	}
	fams := map[string]family{}
	labelSets := map[string]map[string]bool{}
	labelName := regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="`)
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
			name, typ, _ := strings.Cut(rest, " ")
			if strings.HasPrefix(name, "w3dag_") {
				fams[name] = family{typ: typ}
				labelSets[name] = map[string]bool{}
			}
			continue
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, labels, _ := strings.Cut(line, "{")
		name, _, _ = strings.Cut(name, " ")
		fam := name
		if _, ok := fams[fam]; !ok {
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				if base, ok := strings.CutSuffix(name, suffix); ok && fams[base].typ == "histogram" {
					fam = base
				}
			}
		}
		set, ok := labelSets[fam]
		if !ok {
			continue
		}
		if labels != "" {
			labels, _, _ = strings.Cut(labels, "}")
			for _, m := range labelName.FindAllStringSubmatch(labels, -1) {
				if m[1] != "le" {
					set[m[1]] = true
				}
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	for name, f := range fams {
		for l := range labelSets[name] {
			f.labels = append(f.labels, l)
		}
		slices.Sort(f.labels)
		fams[name] = f
	}
	return fams
}
