package mem

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/w3dag/w3dag/kv"
)

var (
	// errTxDone is returned by a Tx used after its transaction function returned.
	errTxDone = fmt.Errorf("%w: transaction already finished", kv.ErrClosed)
	// errWriteInScan is returned by writes made from inside a Scan callback.
	errWriteInScan = errors.New("mem: write from inside a Scan callback")
)

// Store is an in-memory kv.Store. The zero value is not usable; call New.
type Store struct {
	// gate admits transactions until Close.
	gate kv.Gate

	// mu is held shared by View and exclusively by Update; it guards the data below.
	mu       sync.RWMutex
	keys     []string // sorted bytewise
	values   map[string][]byte
	counters map[string]int64
}

var _ kv.Store = (*Store)(nil)

// New returns an empty store.
func New() *Store {
	return &Store{values: map[string][]byte{}, counters: map[string]int64{}}
}

// View runs fn in a read-only transaction.
func (s *Store) View(ctx context.Context, fn func(kv.Tx) error) error {
	if err := s.gate.Enter(ctx); err != nil {
		return err
	}
	defer s.gate.Leave()
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := ctx.Err(); err != nil {
		return err
	}
	t := &tx{s: s}
	defer func() { t.done = true }()
	return fn(t)
}

// Update runs fn in a read-write transaction, undoing its writes if fn fails or panics.
func (s *Store) Update(ctx context.Context, fn func(kv.Tx) error) error {
	if err := s.gate.Enter(ctx); err != nil {
		return err
	}
	defer s.gate.Leave()
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return err
	}
	t := &tx{s: s, writable: true, undo: map[string]undoValue{}, undoCounters: map[string]undoCounter{}}
	committed := false
	defer func() {
		t.done = true
		if !committed {
			t.rollback()
		}
	}()
	if err := fn(t); err != nil {
		return err
	}
	committed = true
	return nil
}

// Close waits for transactions in progress, then drops the data. Later transactions return
// kv.ErrClosed.
func (s *Store) Close() error {
	if !s.gate.Close() {
		return nil
	}
	s.mu.Lock()
	s.keys, s.values, s.counters = nil, nil, nil
	s.mu.Unlock()
	return nil
}

// set stores value at key, keeping keys sorted. The caller holds mu exclusively.
func (s *Store) set(key string, value []byte) {
	if _, ok := s.values[key]; !ok {
		i, _ := slices.BinarySearch(s.keys, key)
		s.keys = slices.Insert(s.keys, i, key)
	}
	s.values[key] = value
}

// remove deletes key. The caller holds mu exclusively.
func (s *Store) remove(key string) {
	if _, ok := s.values[key]; !ok {
		return
	}
	delete(s.values, key)
	if i, ok := slices.BinarySearch(s.keys, key); ok {
		s.keys = slices.Delete(s.keys, i, i+1)
	}
}

type undoValue struct {
	value   []byte
	existed bool
}

type undoCounter struct {
	value   int64
	existed bool
}

type tx struct {
	s            *Store
	writable     bool
	done         bool
	scanning     int // depth of Scan calls in progress
	undo         map[string]undoValue
	undoCounters map[string]undoCounter
}

func (t *tx) rollback() {
	for k, u := range t.undo {
		if u.existed {
			t.s.set(k, u.value)
		} else {
			t.s.remove(k)
		}
	}
	for k, u := range t.undoCounters {
		if u.existed {
			t.s.counters[k] = u.value
		} else {
			delete(t.s.counters, k)
		}
	}
}

// checkWrite reports why a write is not allowed now, if it is not.
func (t *tx) checkWrite() error {
	switch {
	case t.done:
		return errTxDone
	case !t.writable:
		return kv.ErrReadOnly
	case t.scanning > 0:
		return errWriteInScan
	}
	return nil
}

// remember records key's state before the transaction first changed it.
func (t *tx) remember(key string) {
	if _, ok := t.undo[key]; ok {
		return
	}
	v, ok := t.s.values[key]
	t.undo[key] = undoValue{value: v, existed: ok}
}

func (t *tx) Get(key []byte) ([]byte, error) {
	if t.done {
		return nil, errTxDone
	}
	if err := kv.CheckKey(key); err != nil {
		return nil, err
	}
	v, ok := t.s.values[string(key)]
	if !ok {
		return nil, kv.ErrNotFound
	}
	return v, nil
}

func (t *tx) Put(key, value []byte) error {
	if err := t.checkWrite(); err != nil {
		return err
	}
	if err := kv.CheckKey(key); err != nil {
		return err
	}
	if err := kv.CheckValue(value); err != nil {
		return err
	}
	k := string(key)
	t.remember(k)
	t.s.set(k, append(make([]byte, 0, len(value)), value...))
	return nil
}

func (t *tx) Delete(key []byte) error {
	if err := t.checkWrite(); err != nil {
		return err
	}
	if err := kv.CheckKey(key); err != nil {
		return err
	}
	k := string(key)
	t.remember(k)
	t.s.remove(k)
	return nil
}

func (t *tx) Scan(opts kv.ScanOptions, fn func(k, v []byte) error) error {
	if t.done {
		return errTxDone
	}
	keys := t.s.keys
	lo, _ := slices.BinarySearch(keys, string(opts.Start))
	hi := len(keys)
	if opts.End != nil {
		hi, _ = slices.BinarySearch(keys, string(opts.End))
	}
	if lo >= hi {
		return nil
	}
	n := hi - lo
	if opts.Limit > 0 && opts.Limit < n {
		n = opts.Limit
	}
	t.scanning++
	defer func() { t.scanning-- }()
	for j := range n {
		i := lo + j
		if opts.Reverse {
			i = hi - 1 - j
		}
		k := keys[i]
		if err := fn([]byte(k), t.s.values[k]); err != nil {
			if errors.Is(err, kv.ErrStop) {
				return nil
			}
			return err
		}
	}
	return nil
}

func (t *tx) Add(key []byte, delta int64) error {
	if err := t.checkWrite(); err != nil {
		return err
	}
	if err := kv.CheckKey(key); err != nil {
		return err
	}
	k := string(key)
	if _, ok := t.undoCounters[k]; !ok {
		v, existed := t.s.counters[k]
		t.undoCounters[k] = undoCounter{value: v, existed: existed}
	}
	t.s.counters[k] += delta
	return nil
}

func (t *tx) Counter(key []byte) (int64, error) {
	if t.done {
		return 0, errTxDone
	}
	if err := kv.CheckKey(key); err != nil {
		return 0, err
	}
	return t.s.counters[string(key)], nil
}
