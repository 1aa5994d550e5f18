package gateway

import (
	"net/http/httptest"
	"strings"
	"testing"
)

// TestWantsCAR holds wantsCAR to boxo's customResponseFormat (gateway/handler.go of
// boxo v0.43): a known ?format wins over Accept, an unknown one is ignored; otherwise
// the first vendor-specific media type across every Accept line decides, whatever
// follows it and whatever the weights.
func TestWantsCAR(t *testing.T) {
	for _, tc := range []struct {
		query  string
		accept []string
		want   bool
	}{
		{"", nil, false},
		{"?format=car", nil, true},
		{"?format=raw", []string{"application/vnd.ipld.car"}, false},
		{"?format=nonsense", []string{"application/vnd.ipld.car"}, true},
		{"?format=car", []string{"application/vnd.ipld.raw"}, true},
		{"", []string{"application/vnd.ipld.car; version=1"}, true},
		{"", []string{"text/html;q=0.9, application/vnd.ipld.car;q=0.1"}, true},
		{"", []string{"text/html", "application/vnd.ipld.car"}, true},
		// The first vendor type decides, even when a CAR comes after it.
		{"", []string{"application/vnd.ipld.raw, application/vnd.ipld.car"}, false},
		{"", []string{"application/json", "application/vnd.ipld.car"}, false},
		{"", []string{"application/x-tar;q=0.1, application/vnd.ipld.car;q=1"}, false},
		{"", []string{"text/html, */*"}, false},
	} {
		r := httptest.NewRequest("GET", "/ipfs/bafy/a"+tc.query, nil)
		for _, line := range tc.accept {
			r.Header.Add("Accept", line)
		}
		if got := wantsCAR(r); got != tc.want {
			t.Errorf("wantsCAR(%s, Accept %q) = %v, want %v", tc.query, strings.Join(tc.accept, " | "), got, tc.want)
		}
	}
}
