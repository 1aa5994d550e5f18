package capped

import "testing"

func TestMap(t *testing.T) {
	m := New[int, string](2)
	m.Put(1, "a")
	m.Put(2, "b")
	m.Put(1, "a2") // held: keeps its age
	m.Put(3, "c")  // drops 1, the oldest
	if v, ok := m.Get(1); ok {
		t.Fatalf("Get(1) = %q, want dropped", v)
	}
	if v, ok := m.Get(2); !ok || v != "b" {
		t.Fatalf("Get(2) = %q, %v, want b", v, ok)
	}
	if v, ok := m.Take(2); !ok || v != "b" {
		t.Fatalf("Take(2) = %q, %v, want b", v, ok)
	}
	if _, ok := m.Take(2); ok {
		t.Fatal("Take(2) found it again")
	}
	// 2 taken: 3 and 4 fit, 3 stays.
	m.Put(4, "d")
	if v, ok := m.Get(3); !ok || v != "c" {
		t.Fatalf("Get(3) = %q, %v, want c", v, ok)
	}
	m.Put(5, "e")
	if _, ok := m.Get(3); ok {
		t.Fatal("3 not dropped past the limit")
	}
	if v, ok := m.Get(5); !ok || v != "e" {
		t.Fatalf("Get(5) = %q, %v, want e", v, ok)
	}
}
