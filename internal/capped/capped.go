package capped

import (
	"slices"
	"sync"
)

// Map maps K to V, holding at most its limit of entries: putting a new key past it
// drops the key put longest ago. The zero value is not usable; use New.
type Map[K comparable, V any] struct {
	limit int
	mu    sync.Mutex
	m     map[K]V
	order []K // keys, oldest first
}

// New returns an empty Map of at most limit entries (at least 1).
func New[K comparable, V any](limit int) *Map[K, V] {
	return &Map[K, V]{limit: max(limit, 1), m: map[K]V{}}
}

// Put maps k to v; a key already held keeps its age. Past the limit the oldest key is
// dropped.
func (c *Map[K, V]) Put(k K, v V) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[k]; !ok {
		c.order = append(c.order, k)
	}
	c.m[k] = v
	for len(c.order) > c.limit {
		delete(c.m, c.order[0])
		c.order = c.order[1:]
	}
}

// Get returns the value of k, if held.
func (c *Map[K, V]) Get(k K) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[k]
	return v, ok
}

// Take returns the value of k, if held, and drops it.
func (c *Map[K, V]) Take(k K) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[k]
	if ok {
		delete(c.m, k)
		i := slices.Index(c.order, k)
		c.order = slices.Delete(c.order, i, i+1)
	}
	return v, ok
}
