package kv

import "fmt"

// CheckKey reports whether key is acceptable to a backend: it returns an error wrapping
// ErrEmptyKey for an empty key and ErrKeyTooLarge for one longer than MaxKeySize.
// Backends call it from Put, Delete, Add and Counter.
func CheckKey(key []byte) error {
	if len(key) == 0 {
		return ErrEmptyKey
	}
	if len(key) > MaxKeySize {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrKeyTooLarge, len(key), MaxKeySize)
	}
	return nil
}

// CheckValue reports whether value is acceptable to a backend: it returns an error wrapping
// ErrValueTooLarge for a value longer than MaxValueSize. Empty values are allowed.
func CheckValue(value []byte) error {
	if len(value) > MaxValueSize {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrValueTooLarge, len(value), MaxValueSize)
	}
	return nil
}
