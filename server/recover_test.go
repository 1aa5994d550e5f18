package server

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestRecovererAnswers500: a panicking handler gets a JSON 500, and instrument (whose
// statusWriter recoverer shares) counts the request with that code.
func TestRecovererAnswers500(t *testing.T) {
	s := newHarness(t, harnessOptions{}).srv
	h := s.instrument(s.recoverer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") })))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/anything", nil))
	if rec.Code != http.StatusInternalServerError || !strings.Contains(rec.Body.String(), NameInternal) {
		t.Fatalf("panicking handler: %d %s, want 500 %s", rec.Code, rec.Body, NameInternal)
	}
	mrec := httptest.NewRecorder()
	s.ServeHTTP(mrec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if want := `w3dag_http_requests_total{code="500",method="GET",route="other"} 1`; !strings.Contains(mrec.Body.String(), want) {
		t.Errorf("metrics lack %s", want)
	}
}
