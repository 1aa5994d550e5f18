package schema

import (
	"errors"
	"slices"
	"testing"
)

func TestLoadSystem(t *testing.T) {
	s, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		subject      SubjectKind
		name         string
		input, state string
		statuses     []string
		entry        string
	}{
		{SpaceSubject, "store", "StoreInput", "StoreStatus", []string{"queued", "pending", "done", "expired", "failed", "removed"}, "StoreEntry"},
		{SpaceSubject, "upload", "UploadInput", "UploadStatus", []string{"done", "removed"}, "UploadEntry"},
		{SpaceSubject, "usage", "UsageRecord", "UsageStatus", []string{"recorded"}, "UsageEntry"},
		{SpaceSubject, "metrics", "MetricInput", "MetricStatus", []string{"counter"}, "MetricEntry"},
		{ServiceSubject, "carwhere", "CarwhereInput", "CarwhereStatus", []string{"located"}, "CarwhereEntry"},
		{ServiceSubject, "piece", "PieceInput", "PieceStatus", []string{"queued", "computed", "aggregated", "dealt"}, "PieceEntry"},
		{ServiceSubject, "aggregate", "AggregateInput", "AggregateStatus", []string{"ingesting", "ready", "deal_pending", "deal_processed", "failed"}, "AggregateEntry"},
		{ServiceSubject, "task", "TaskInput", "TaskStatus", []string{"queued", "running", "done", "failed"}, "TaskEntry"},
		{ServiceSubject, "metrics", "MetricInput", "MetricStatus", []string{"counter"}, "MetricEntry"},
	}
	counts := map[SubjectKind]int{}
	for _, tt := range tests {
		counts[tt.subject]++
		c, ok := s.Collection(tt.subject, tt.name)
		if !ok {
			t.Errorf("%s collection %s missing", tt.subject, tt.name)
			continue
		}
		want := Collection{Name: tt.name, Subject: tt.subject, Input: tt.input, State: tt.state, Statuses: tt.statuses, Entry: tt.entry}
		if c.Name != want.Name || c.Subject != want.Subject || c.Input != want.Input || c.State != want.State ||
			!slices.Equal(c.Statuses, want.Statuses) || c.Entry != want.Entry || c.Generic {
			t.Errorf("collection\n got: %+v\nwant: %+v", c, want)
		}
	}
	for subject, n := range counts {
		if got := len(s.Collections(subject)); got != n {
			t.Errorf("%s has %d collections, want %d", subject, got, n)
		}
	}
	if _, ok := s.Collection(SpaceSubject, "carwhere"); ok {
		t.Error("carwhere is a service collection, found under space")
	}
	n, err := decodeDAGJSON([]byte(`{"link":{"/":"bafkqaaa"},"size":"1"}`))
	if err != nil {
		t.Fatal(err)
	}
	err = s.Validate("StoreInput", n)
	var ve *ValidationError
	if !errors.As(err, &ve) || !errors.Is(err, ErrInvalid) || ve.Path != "/size" || ve.Type != "Int" {
		t.Fatalf("got %v", err)
	}
}
