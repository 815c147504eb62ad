package units

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// DefaultLinkTimeout is Config.LinkTimeout's default.
const DefaultLinkTimeout = 10 * time.Second

// errLinkSilent: a server did not answer the link watch in time.
var errLinkSilent = errors.New("did not answer")

// linkProbeEvery is how often the link watch asks.
const linkProbeEvery = time.Second

// watchLinks watches the links to cfg's source and target while one
// attempt of Run lasts: every second it runs SELECT 1 on a connection of
// its own to each; when one gets no answer within cfg.LinkTimeout, the
// returned context is cancelled with an error naming the server, so that
// every statement of the attempt ends at once (go-sql-driver drops a
// connection whose statement is cancelled) and Run retries from the
// checkpoint. An error other than silence (refused, reset) is left to the
// unit's own statements, which meet it too. stop ends the watch.
func watchLinks(ctx context.Context, cfg Config, log *slog.Logger) (actx context.Context, stop func()) {
	timeout := cfg.LinkTimeout
	if timeout <= 0 {
		timeout = DefaultLinkTimeout
	}
	actx, cancel := context.WithCancelCause(ctx)
	var wg sync.WaitGroup
	for _, l := range []struct {
		role string
		ep   Endpoint
	}{{"source", cfg.From}, {"target", cfg.To}} {
		wg.Go(func() {
			if err := watchLink(actx, l.role, l.ep, timeout); err != nil {
				log.Warn("link lost; the attempt stops and retries from its checkpoint", "err", err)
				cancel(err)
			}
		})
	}
	return actx, func() { cancel(nil); wg.Wait() }
}

// watchLink probes ep until ctx ends (nil) or ep is silent (the error).
func watchLink(ctx context.Context, role string, ep Endpoint, timeout time.Duration) error {
	c, err := driverConfig(ep, "")
	if err != nil {
		return nil // the unit reports it
	}
	c.ReadTimeout, c.WriteTimeout = 0, 0 // the probe's deadline governs
	db, err := openDB(ep, c, 1, nil)
	if err != nil {
		return nil
	}
	defer db.Close()
	t := time.NewTicker(linkProbeEvery)
	defer t.Stop()
	for {
		start := time.Now()
		pctx, cancel := context.WithTimeout(ctx, timeout)
		var one int
		err := db.QueryRowContext(pctx, "SELECT 1").Scan(&one)
		silent := errors.Is(pctx.Err(), context.DeadlineExceeded)
		cancel()
		if ctx.Err() != nil {
			return nil
		}
		if silent {
			return fmt.Errorf("%s %s %w for %s (link timeout): %v", role, ep, errLinkSilent, time.Since(start).Round(time.Millisecond), err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// linkLost returns the link watch's error when it ended actx.
func linkLost(actx context.Context) error {
	if cause := context.Cause(actx); errors.Is(cause, errLinkSilent) {
		return cause
	}
	return nil
}
