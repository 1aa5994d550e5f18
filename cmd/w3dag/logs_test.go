package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/w3dag/w3dag/archive/logs"
	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/receipts"
)

// exportedLines reads every exported line under the data folder's blobs/logs, by type.
func exportedLines(t *testing.T, data string) map[string][]map[string]any {
	t.Helper()
	lines := map[string][]map[string]any{}
	root := filepath.Join(data, blobsDir, "logs")
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if os.IsNotExist(err) {
			return filepath.SkipAll
		}
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".jsonl") {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var m map[string]any
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				t.Fatalf("%s: %v", p, err)
			}
			lines[m["type"].(string)] = append(lines[m["type"].(string)], m)
		}
		return sc.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	return lines
}

// TestLogsServeAndExport: serve (--logs on by default with fs) exports while it runs;
// after it stops, `w3dag logs export` exports what is left, and a second run writes
// nothing. The usage record's receipt line carries the stored size.
func TestLogsServeAndExport(t *testing.T) {
	clearEnv(t)
	data := t.TempDir()
	url, stop := startServerAt(t, data, "127.0.0.1:0")
	t.Setenv("W3DAG_CONFIG", t.TempDir())
	t.Setenv("W3DAG_URL", url)
	out, stderr, code := cli(t, "space", "new")
	if code != 0 {
		t.Fatalf("space new: %d %s", code, stderr)
	}
	space := strings.TrimSpace(out)
	file := filepath.Join(t.TempDir(), "a.car")
	car := make([]byte, 2345)
	fillCAR(t, car)
	if err := os.WriteFile(file, car, 0o600); err != nil {
		t.Fatal(err)
	}
	var so, se bytes.Buffer
	if code := runStore(context.Background(), []string{file}, &so, &se); code != 0 {
		t.Fatalf("store: exit %d: %s", code, se.String())
	}
	// The service exports within --logs-interval (1 s): wait for the store's usage record.
	deadline := time.Now().Add(15 * time.Second)
	var usageLine map[string]any
	for usageLine == nil {
		for _, l := range exportedLines(t, data)[logs.TypeReceipt] {
			if l["collection"] == "usage" && l["subject"] == space {
				usageLine = l
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("serve exported no usage record within 15 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	ok := usageLine["out"].(map[string]any)["ok"].(map[string]any)
	if ok["delta"] != float64(len(car)) || usageLine["op"] != "record" || usageLine["status"] != "recorded" {
		t.Fatalf("usage line %v", usageLine)
	}
	if _, stderr, code := cli(t, "rm", "store/"+carOf(car).String()); code != 0 {
		t.Fatalf("rm: %s", stderr)
	}
	stop()

	out, stderr, code = cli(t, "logs", "export", "--data", data)
	if code != 0 {
		t.Fatalf("logs export: exit %d: %s", code, stderr)
	}
	var records, files int
	var pos uint64
	if _, err := fmt.Sscanf(out, "exported %d commit-log records in %d files; position %d", &records, &files, &pos); err != nil {
		t.Fatalf("logs export printed %q: %v", out, err)
	}
	lines := exportedLines(t, data)
	if len(lines[logs.TypeReceipt]) != int(pos) || pos == 0 {
		t.Fatalf("%d receipt lines, position %d", len(lines[logs.TypeReceipt]), pos)
	}
	for i, l := range lines[logs.TypeWorkflow] {
		if l["cmd"] == "/dag/remove" && l["path"] == "/"+space+"/store/"+carOf(car).String() {
			break
		} else if i == len(lines[logs.TypeWorkflow])-1 {
			t.Fatal("no workflow line for the remove")
		}
	}
	checkLinesAgainstLog(t, data, lines)
	out, stderr, code = cli(t, "logs", "export", "--data", data)
	if code != 0 || !strings.HasPrefix(out, "exported 0 commit-log records in 0 files;") {
		t.Fatalf("second logs export: exit %d: %s%s", code, out, stderr)
	}
}

func TestLogsCommandErrors(t *testing.T) {
	clearEnv(t)
	empty := t.TempDir()
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"logs"}, 2, "usage: w3dag logs export"},
		{[]string{"logs", "frob"}, 2, `unknown subcommand "frob"`},
		{[]string{"logs", "export", "--chunk", "0", "--data", empty}, 2, "--chunk 0"},
		{[]string{"logs", "export", "--data", empty}, 1, "no service.key"},
		{[]string{"logs", "export", "--data", filepath.Join(empty, "missing")}, 1, "not the data folder of a service"},
	} {
		_, stderr, code := cli(t, tc.args...)
		if code != tc.code || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", tc.args, code, stderr, tc.code, tc.want)
		}
	}
	if _, err := os.Stat(filepath.Join(empty, serviceKeyFile)); err == nil {
		t.Error("logs export created a service key in a folder that had none")
	}
}

func TestLogsFlag(t *testing.T) {
	for _, tc := range []struct {
		logs, blob string
		want       bool
	}{
		{"", "fs", true},
		{"", "s3", false},
		{"false", "fs", false},
		{"true", "s3", true},
	} {
		if got := (serveConfig{logs: tc.logs, blob: tc.blob}).logsOn(); got != tc.want {
			t.Errorf("--logs %q --blob %s: on %v, want %v", tc.logs, tc.blob, got, tc.want)
		}
	}
}

// checkLinesAgainstLog opens the stopped service's store and compares the receipt lines
// with its commit log, record by record (seq, receipt, path, ran), and checks that every
// invocation a logged receipt ran has exactly one workflow line, at its first receipt.
func checkLinesAgainstLog(t *testing.T, data string, lines map[string][]map[string]any) {
	t.Helper()
	ctx := context.Background()
	c := serveConfig{data: data, kv: "bolt", schemas: schemaFiles{pinsSchema(t)}}
	kvs, err := openKV(ctx, c, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer kvs.Close()
	signer, _, err := loadServiceKey(filepath.Join(data, serviceKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	sch, err := loadSchema(c.schemas)
	if err != nil {
		t.Fatal(err)
	}
	e, err := dag.Open(ctx, dag.Options{KV: kvs, Signer: signer, Schema: sch})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	bySeq := map[uint64]map[string]any{}
	for _, l := range lines[logs.TypeReceipt] {
		seq := uint64(l["seq"].(float64))
		if bySeq[seq] != nil {
			t.Fatalf("seq %d exported twice", seq)
		}
		bySeq[seq] = l
	}
	first := map[string]uint64{}
	n := 0
	for after := uint64(0); ; {
		evs, err := e.Log(ctx, after, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) == 0 {
			break
		}
		for _, ev := range evs {
			n++
			l := bySeq[ev.Seq]
			if l == nil || l["receipt"] != ev.Receipt.String() || l["path"] != ev.Path.String() {
				t.Fatalf("seq %d: line %v, commit log %s %s", ev.Seq, l, ev.Receipt, ev.Path)
			}
			raw, err := e.Block(ctx, ev.Receipt)
			if err != nil {
				t.Fatal(err)
			}
			_, r, err := receipts.Decode(raw)
			if err != nil {
				t.Fatal(err)
			}
			if l["ran"] != r.Ran.String() {
				t.Fatalf("seq %d: ran %v, receipt ran %s", ev.Seq, l["ran"], r.Ran)
			}
			if _, ok := first[r.Ran.String()]; !ok {
				first[r.Ran.String()] = ev.Seq
			}
		}
		after = evs[len(evs)-1].Seq
	}
	if n != len(bySeq) {
		t.Fatalf("%d receipt lines, %d commit-log records", len(bySeq), n)
	}
	wf := lines[logs.TypeWorkflow]
	if len(wf) != len(first) {
		t.Fatalf("%d workflow lines, %d invocations ran logged receipts", len(wf), len(first))
	}
	cmds := map[string]bool{}
	for _, l := range wf {
		inv, _ := l["invocation"].(string)
		if seq, ok := first[inv]; !ok || uint64(l["seq"].(float64)) != seq {
			t.Fatalf("workflow line %v: first receipt at %d (%v)", l, seq, ok)
		}
		cmds[l["cmd"].(string)] = true
	}
	t.Logf("%d commit-log records; workflow commands %v", n, cmds)
}
