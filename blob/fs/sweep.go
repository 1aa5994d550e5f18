package fs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path"
	"strings"
	"time"
)

// SweepTemp removes the temporary files of Puts (names starting with "~put-") last
// written before cutoff, with the directories their removal leaves empty, and returns how
// many it removed. A Put in progress writes its file continuously, so its modification
// time stays recent; a file untouched since cutoff belongs to a Put whose process died
// (SIGKILL, power loss) or whose writer stalled. It walks every directory of the store.
func (s *Store) SweepTemp(ctx context.Context, cutoff time.Time) (int, error) {
	n, err := s.sweep(ctx, ".", cutoff)
	if err != nil {
		return n, fmt.Errorf("fs: sweeping temporary files: %w", err)
	}
	return n, nil
}

func (s *Store) sweep(ctx context.Context, dir string, cutoff time.Time) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	d, err := s.root.Open(dir)
	if missing(err) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	des, err := d.ReadDir(-1)
	d.Close()
	if missing(err) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	n := 0
	removed := false
	for _, de := range des {
		name := path.Join(dir, de.Name())
		switch {
		case de.IsDir():
			m, err := s.sweep(ctx, name, cutoff)
			n += m
			if err != nil {
				return n, err
			}
		case de.Type().IsRegular() && strings.HasPrefix(de.Name(), tempPrefix):
			fi, err := de.Info()
			if missing(err) {
				continue // its Put finished or failed meanwhile
			}
			if err != nil {
				return n, err
			}
			if !fi.ModTime().Before(cutoff) {
				continue
			}
			if err := s.root.Remove(name); err != nil && !missing(err) {
				return n, err
			}
			n++
			removed = true
		}
	}
	if removed {
		s.prune(dir)
	}
	return n, nil
}

// Sweep runs SweepTemp at once and then every interval until ctx ends, removing
// temporary files last written more than maxAge ago; failures are logged to log and
// retried at the next interval.
func (s *Store) Sweep(ctx context.Context, maxAge, interval time.Duration, log *slog.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		n, err := s.SweepTemp(ctx, time.Now().Add(-maxAge))
		switch {
		case errors.Is(err, context.Canceled):
			return
		case err != nil:
			log.WarnContext(ctx, "sweeping temporary upload files", "error", err)
		case n > 0:
			log.InfoContext(ctx, "removed abandoned temporary upload files", "files", n, "older_than", maxAge.String())
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
