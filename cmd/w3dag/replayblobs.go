package main

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/w3dag/w3dag/blob"
	"github.com/w3dag/w3dag/machines/carwhere"
)

// uploadChecker is what a blob store that checks uploads itself (S3) offers the store
// machine instead of Stat.
type uploadChecker interface {
	CheckUpload(ctx context.Context, key string, size int64, sum []byte) error
}

// pastBlobs is the original service's blob storage as a replayed store put sees it: the
// CARs are there from their upload on, so a put that found none in the original run (it
// was pending; replayService.before sets hide while it runs alone) must not see one
// uploaded after it.
type pastBlobs struct {
	blob.Store
	p    blob.Presigner
	hide atomic.Bool
}

// pastChecker is a pastBlobs over a store that checks uploads itself.
type pastChecker struct {
	*pastBlobs
	c uploadChecker
}

func newPastBlobs(s blob.Store) (*pastBlobs, error) {
	p, ok := s.(blob.Presigner)
	if !ok {
		return nil, fmt.Errorf("replay: the blob store %T does not presign uploads", s)
	}
	return &pastBlobs{Store: s, p: p}, nil
}

// store is the blob.Store the replay's store machine is given.
func (b *pastBlobs) store() blob.Store {
	if c, ok := b.Store.(uploadChecker); ok {
		return &pastChecker{pastBlobs: b, c: c}
	}
	return b
}

func (b *pastBlobs) PresignPut(ctx context.Context, key string, size int64, sha256 []byte, expires time.Time) (blob.Request, error) {
	return b.p.PresignPut(ctx, key, size, sha256, expires)
}

// hidden is the error of a CAR's key while hide is set.
func (b *pastBlobs) hidden(key string) error {
	if b.hide.Load() && strings.HasPrefix(key, carwhere.KeyPrefix+"/") {
		return fmt.Errorf("%s: %w (not yet uploaded when the original ran this put)", key, blob.ErrNotFound)
	}
	return nil
}

func (b *pastBlobs) Stat(ctx context.Context, key string) (blob.Info, error) {
	if err := b.hidden(key); err != nil {
		return blob.Info{}, err
	}
	return b.Store.Stat(ctx, key)
}

func (b *pastChecker) CheckUpload(ctx context.Context, key string, size int64, sum []byte) error {
	if err := b.hidden(key); err != nil {
		return err
	}
	return b.c.CheckUpload(ctx, key, size, sum)
}
