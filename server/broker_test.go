package server

import (
	"encoding/json"
	"testing"
)

// TestReportCheck: a report is a deal with a provider (and a dealId that fits an int64),
// or a failure with a reason, never both nor neither.
func TestReportCheck(t *testing.T) {
	for _, tc := range []struct {
		body string
		ok   bool
	}{
		{`{"deal": {"provider": "f01234", "dealId": 123, "expires": 1767225600}}`, true},
		{`{"failure": {"reason": "piece x: downloaded bytes have commP y"}}`, true},
		{`{}`, false},
		{`{"deal": null}`, false},
		{`{"deal": {"dealId": 1, "expires": 1}}`, false},
		{`{"deal": {"provider": "f01", "dealId": 18446744073709551615, "expires": 1}}`, false},
		{`{"failure": {"reason": ""}}`, false},
		{`{"deal": {"provider": "f01", "dealId": 1, "expires": 1}, "failure": {"reason": "x"}}`, false},
	} {
		var r Report
		if err := json.Unmarshal([]byte(tc.body), &r); err != nil {
			t.Fatalf("%s: %v", tc.body, err)
		}
		if err := r.Check(); (err == nil) != tc.ok {
			t.Errorf("%s: Check() = %v, want ok %v", tc.body, err, tc.ok)
		}
	}
}
