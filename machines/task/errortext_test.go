package task_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/w3dag/w3dag/kv/mem"
	"github.com/w3dag/w3dag/machines/machinestest"
	"github.com/w3dag/w3dag/machines/task"
	"github.com/w3dag/w3dag/ucan"
)

// A task that fails for good is recorded failed whatever its handler's error says: the
// error is kept as valid UTF-8 of at most MaxErrorLength bytes, cut at a character
// boundary. An error quoting invalid UTF-8 (a broker's answer), or one cut inside a
// character, used to make the failed state unencodable: the outcome was never written,
// and the task stayed running, to be claimed and run again for ever.
func TestFailedErrorText(t *testing.T) {
	long := strings.Repeat("a", task.MaxErrorLength-1)
	for _, tc := range []struct {
		name, err, want string
	}{
		{"short", "no storage provider wants it", "no storage provider wants it"},
		{"invalid UTF-8", "broker answered 400: \xff\xfeoops", "broker answered 400: \uFFFDoops"},
		{"cut at the limit", long + "ab", long + "a"},
		{"cut inside a character", long + "€", long},
		{"invalid, then cut", long + "\xff", long},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newClock()
			v := machinestest.Open(t, mem.New(), nil, nil, c.Now)
			id := schedule(t, v.E, task.Task{Cmd: "/test/bad"})
			r := task.NewRunner(v.E, map[string]task.Handler{
				"/test/bad": func(context.Context, *ucan.Token) error { return task.Permanent(errors.New(tc.err)) },
			}, opts(c, "worker-a"))
			runOnce(t, r, 1)
			ent := state(t, v.E, id)
			if ent.Status != task.StatusFailed {
				t.Fatalf("the task is %s, want %s", ent.Status, task.StatusFailed)
			}
			n, err := ent.State.LookupByString("error")
			if err != nil {
				t.Fatal(err)
			}
			if got, _ := n.AsString(); got != tc.want {
				t.Errorf("error kept as %q (%d bytes), want %q (%d bytes)", got[max(0, len(got)-12):], len(got), tc.want[max(0, len(tc.want)-12):], len(tc.want))
			}
		})
	}
}
