package server

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestReportCheck: a report is a deal with a provider (of at most MaxProvider bytes, and a
// dealId that fits an int64), or a failure with a reason (of at most MaxReason bytes),
// never both nor neither; the error names what is wrong.
func TestReportCheck(t *testing.T) {
	failure := func(reason string) string { return `{"failure": {"reason": "` + reason + `"}}` }
	deal := func(provider string) string {
		return `{"deal": {"provider": "` + provider + `", "dealId": 123, "expires": 1767225600}}`
	}
	for _, tc := range []struct {
		body string
		want string // "" for a report Check takes, else what its error says
	}{
		{deal("f01234"), ""},
		{deal(strings.Repeat("f", MaxProvider)), ""},
		{failure("piece x: downloaded bytes have commP y"), ""},
		{failure(strings.Repeat("r", MaxReason)), ""},
		{`{}`, "a report is"},
		{`{"deal": null}`, "a report is"},
		{`{"deal": {"dealId": 1, "expires": 1}}`, "provider is required"},
		{deal(strings.Repeat("f", MaxProvider+1)), "provider is 257 bytes, at most 256"},
		{`{"deal": {"provider": "f01", "dealId": 18446744073709551615, "expires": 1}}`, "dealId 18446744073709551615 is over"},
		{failure(""), "reason is required"},
		{failure(strings.Repeat("r", MaxReason+1)), "reason is 4097 bytes, at most 4096"},
		{`{"deal": {"provider": "f01", "dealId": 1, "expires": 1}, "failure": {"reason": "x"}}`, "not both"},
	} {
		var r Report
		if err := json.Unmarshal([]byte(tc.body), &r); err != nil {
			t.Fatalf("%.80s: %v", tc.body, err)
		}
		err := r.Check()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%.80s: Check() = %v, want nil", tc.body, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%.80s: Check() = %v, want an error saying %q", tc.body, err, tc.want)
		}
	}
}

// FuzzReport: no body makes decoding and checking a report panic, and a report Check
// takes is one of the two forms within the limits.
func FuzzReport(f *testing.F) {
	f.Add([]byte(`{"deal": {"provider": "f01234", "dealId": 123, "expires": 1767225600}}`))
	f.Add([]byte(`{"failure": {"reason": "piece x: downloaded bytes have commP y"}}`))
	f.Add([]byte(`{"deal": {"provider": "f01", "dealId": 1, "expires": 1}, "failure": {"reason": "x"}}`))
	f.Add([]byte(`{"deal": {"provider": "\ud800", "dealId": -1}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var r Report
		if json.Unmarshal(body, &r) != nil || r.Check() != nil {
			return
		}
		switch {
		case (r.Deal == nil) == (r.Failure == nil):
			t.Fatalf("%q: checked, but not exactly one form", body)
		case r.Deal != nil && (r.Deal.Provider == "" || len(r.Deal.Provider) > MaxProvider):
			t.Fatalf("%q: checked, with a provider of %d bytes", body, len(r.Deal.Provider))
		case r.Failure != nil && (r.Failure.Reason == "" || len(r.Failure.Reason) > MaxReason):
			t.Fatalf("%q: checked, with a reason of %d bytes", body, len(r.Failure.Reason))
		}
	})
}
