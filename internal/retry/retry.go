// Package retry is dmplan's one backoff policy for transient errors: each
// delay doubles from a first one up to a cap, and is spread by ±50%
// (jitter), so that the agents and units that failed together (a target
// restarting, etcd losing its leader) do not come back in step. It is
// cenkalti/backoff/v5's ExponentialBackOff with that policy fixed; the
// callers choose only the first delay and the cap, by how costly an
// attempt is (an etcd request, a chunk, a whole subtask).
package retry

import (
	"context"
	"time"

	"github.com/cenkalti/backoff/v5"
)

// Policy: the factor between delays and the jitter around each.
const (
	Multiplier = 2
	Jitter     = 0.5
)

// New returns the delays between attempts, starting near first and never
// above 1.5 × max. NextBackOff gives the next delay; Reset starts over
// (after an attempt that made progress).
func New(first, max time.Duration) *backoff.ExponentialBackOff {
	b := &backoff.ExponentialBackOff{
		InitialInterval:     first,
		RandomizationFactor: Jitter,
		Multiplier:          Multiplier,
		MaxInterval:         max,
	}
	b.Reset()
	return b
}

// Sleep waits d, or until ctx ends (then it returns ctx.Err()).
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
