// Package capped holds Map, a map safe for concurrent use that keeps at most a fixed
// number of entries and drops the oldest past it: what the upload endpoint stages in
// memory for a later transaction (machines/blockindex scans, machines/piece pieces). It
// imports only the standard library.
package capped
