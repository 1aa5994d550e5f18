package main

// usage.go: `w3dag usage`, the usage report of a space computed client-side from the
// space's usage records (/dag/select of /<space>/usage) with the same math the service
// uses (usagemachine.Compute), so no endpoint beyond the four DAG commands is needed.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/w3dag/w3dag/client"
	usagemachine "github.com/w3dag/w3dag/machines/usage"
)

// runUsage implements `w3dag usage [--space DID] [--from T] [--to T] [--json]`: the size
// of the space at from and to, the exact byte·ms integral over [from, to) and the records
// that make it up. T is RFC 3339 or unix milliseconds; the default window is the current
// month (UTC) so far.
func runUsage(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs, cf := newFlags("usage", "usage: w3dag usage [--space DID] [--from T] [--to T] [--json]", stderr)
	space := fs.String("space", "", "space DID (default: the current space)")
	fromS := fs.String("from", "", "start of the window, RFC 3339 or unix ms (default: the start of the current month, UTC)")
	toS := fs.String("to", "", "end of the window, excluded, RFC 3339 or unix ms (default: now)")
	_, code, ok := parseArgs(fs, args, 0, 0)
	if !ok {
		return code
	}
	now := time.Now()
	from, to := monthStart(now), now
	var err error
	if *fromS != "" {
		if from, err = parseTime(*fromS); err != nil {
			return usageError(stderr, "usage", "--from: %v", err)
		}
	}
	if *toS != "" {
		if to, err = parseTime(*toS); err != nil {
			return usageError(stderr, "usage", "--to: %v", err)
		}
	}
	if from.UnixMilli() >= to.UnixMilli() {
		return usageError(stderr, "usage", "--from (%s) must be before --to (%s)", from.UTC().Format(time.RFC3339Nano), to.UTC().Format(time.RFC3339Nano))
	}
	e, err := openEnv(cf, stdout, stderr)
	if err != nil {
		return fail(stderr, "usage", err)
	}
	sp := *space
	if sp == "" {
		sp = e.state.Space
	}
	if sp == "" {
		return usageError(stderr, "usage", "no space: give --space DID or run `w3dag space new`")
	}
	if !strings.HasPrefix(sp, "did:key:") {
		return usageError(stderr, "usage", "--space %q is not a did:key space", sp)
	}
	c, err := e.client(ctx)
	if err != nil {
		return e.fail("usage", err)
	}
	evs, err := usageEvents(ctx, c, sp)
	if err != nil {
		return e.fail("usage", err)
	}
	s, err := usagemachine.Compute(evs, from, to)
	if err != nil {
		return e.fail("usage", err)
	}
	s.Space = sp
	if cf.json {
		if err := json.NewEncoder(stdout).Encode(summaryJSON(s)); err != nil {
			return e.fail("usage", err)
		}
		return 0
	}
	printSummary(stdout, s)
	return 0
}

// usageEvents reads every usage record of space, page by page.
func usageEvents(ctx context.Context, c *client.Client, space string) ([]usagemachine.Event, error) {
	p := "/" + space + "/" + usagemachine.Name
	q := client.Query{Limit: client.MaxSelectLimit, Status: usagemachine.StatusRecorded}
	var evs []usagemachine.Event
	for {
		page, err := c.Select(ctx, p, q)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		for _, pe := range page.Entries {
			if pe.State == nil {
				return nil, fmt.Errorf("%s: the page has no state for %q", p, pe.Key)
			}
			ev, err := usagemachine.ParseRecord(pe.State)
			if err != nil {
				return nil, fmt.Errorf("%s/%s: %w", p, pe.Key, err)
			}
			ev.Key, ev.Receipt = pe.Key, pe.Head
			ev.Seq = uint64(len(evs)) // insertion order: orders records of the same ms
			evs = append(evs, ev)
		}
		if page.Cursor == "" || len(page.Entries) == 0 {
			return evs, nil
		}
		q.Cursor = page.Cursor
	}
}

// monthStart is the first instant of t's month in UTC.
func monthStart(t time.Time) time.Time {
	u := t.UTC()
	return time.Date(u.Year(), u.Month(), 1, 0, 0, 0, 0, time.UTC)
}

var errTime = errors.New("not RFC 3339 (2026-11-01T00:00:00Z) nor unix milliseconds")

// parseTime reads RFC 3339 or unix milliseconds.
func parseTime(s string) (time.Time, error) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.UnixMilli(n), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q: %w", s, errTime)
	}
	return t, nil
}

type eventJSON struct {
	Key     string `json:"key"`
	Blob    string `json:"blob"`
	Delta   int64  `json:"delta"`
	Cause   string `json:"cause"`
	TS      int64  `json:"ts"`
	Receipt string `json:"receipt,omitempty"`
}

type reportJSON struct {
	Space   string `json:"space"`
	From    int64  `json:"from"`
	To      int64  `json:"to"`
	Initial int64  `json:"initial"`
	Final   int64  `json:"final"`
	// ByteMs is a decimal string: the integral can exceed what JSON numbers hold exactly.
	ByteMs string      `json:"byteMs"`
	Events []eventJSON `json:"events"`
}

func summaryJSON(s *usagemachine.Summary) reportJSON {
	r := reportJSON{Space: s.Space, From: s.From.UnixMilli(), To: s.To.UnixMilli(), Initial: s.Initial, Final: s.Final, ByteMs: s.ByteMs.String(), Events: []eventJSON{}}
	for _, ev := range s.Events {
		j := eventJSON{Key: ev.Key, Blob: ev.Blob.String(), Delta: ev.Delta, Cause: ev.Cause.String(), TS: ev.TS}
		if ev.Receipt.Defined() {
			j.Receipt = ev.Receipt.String()
		}
		r.Events = append(r.Events, j)
	}
	return r
}

func printSummary(w io.Writer, s *usagemachine.Summary) {
	fmt.Fprintf(w, "space    %s\n", s.Space)
	fmt.Fprintf(w, "window   %s .. %s\n", s.From.Format(time.RFC3339Nano), s.To.Format(time.RFC3339Nano))
	fmt.Fprintf(w, "initial  %d bytes\n", s.Initial)
	fmt.Fprintf(w, "final    %d bytes\n", s.Final)
	fmt.Fprintf(w, "usage    %s byte·ms\n", s.ByteMs)
	fmt.Fprintf(w, "events   %d\n", len(s.Events))
	for _, ev := range s.Events {
		fmt.Fprintf(w, "%s\t%+d\t%s\tcause %s\n", time.UnixMilli(ev.TS).UTC().Format(time.RFC3339Nano), ev.Delta, ev.Blob, ev.Cause)
	}
}
