package units

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/dmplan/dmplan/units/relay"
)

// eventSource is where the sync unit reads binlog events from: the
// source's own binlog stream, or the source's relay (docs/relay.md). Sync
// does not care which: both deliver what a go-mysql stream delivers (an
// artificial rotation to the start file, its description event, the
// events, heartbeats while quiet).
type eventSource interface {
	GetEvent(ctx context.Context) (*replication.BinlogEvent, error)
	Close()
}

// binlogStream is the source's binlog, streamed by go-mysql.
type binlogStream struct {
	bs *binlogSyncer
	st *replication.BinlogStreamer
}

func (b binlogStream) GetEvent(ctx context.Context) (*replication.BinlogEvent, error) {
	return b.st.GetEvent(ctx)
}

func (b binlogStream) Close() { b.bs.Close() }

// relayWait is how long an attempt waits for the relay to hold its start
// (a relay starting, or fetching older files from the source) before it
// fails and is retried.
const relayWait = 30 * time.Second

// openEvents opens the events of an attempt that starts at p: the relay's
// when the subtask has one and p is a file position, else the source's.
func (s *syncer) openEvents(ctx context.Context, p Position) (eventSource, error) {
	cfg := s.cfg
	if cfg.Relay == nil || p.File == "" {
		if cfg.Relay != nil {
			s.log.Info("the checkpoint is a GTID set without a file position: reading the source's binlog, not the relay, until it has one", "at", describePos(p))
		}
		tc, err := binlogTLS(ctx, cfg.From, s.source)
		if err != nil {
			return nil, err
		}
		bs, st, err := openBinlog(cfg, s.flavor, p, tc, s.log)
		if err != nil {
			return nil, streamError(err, p, syncServerID(cfg))
		}
		return binlogStream{bs, st}, nil
	}
	parser := replication.NewBinlogParser()
	parser.SetFlavor(s.flavor)
	parser.SetTimestampStringLocation(time.UTC)
	parser.SetVerifyChecksum(true)
	deadline := time.Now().Add(relayWait)
	for {
		wake := cfg.Relay.Changed()
		r, err := relay.NewReader(cfg.Relay.Dir(), p.File, p.Pos, cfg.Relay.Changed, parser)
		if err == nil {
			s.log.Info("reading the binlog from the relay", "dir", cfg.Relay.Dir(), "from", describePos(p))
			return r, nil
		}
		if errors.Is(err, relay.ErrGone) {
			return nil, relayGone(cfg, p, err)
		}
		if !errors.Is(err, relay.ErrNotHeld) || time.Now().After(deadline) {
			return nil, fmt.Errorf("sync %s/%s: read the relay at %s: %w (the relay fetches it from the source when the source still has it)", cfg.Task, cfg.Source, describePos(p), err)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-wake:
		case <-time.After(time.Second):
		}
	}
}

// relayGone is the permanent error of a subtask that needs what its relay
// lost for good (relay.ErrGone, docs/relay.md "Purge"): it names the
// position and why, and says what to do.
func relayGone(cfg Config, p Position, err error) error {
	fix := "keep the source's binlogs longer than a failover or a pause lasts (expire_logs_days), so the relay can fetch them"
	if strings.Contains(err.Error(), "disk floor") {
		fix = "give the relay more disk (--relay-dir)"
	}
	return Permanent(fmt.Errorf("sync %s/%s: read the relay at %s: %w: the changes after the checkpoint are lost to this subtask; "+
		"restart the task from a fresh dump (mode all) or give an incremental start position the source still has; "+
		"to keep it from happening again, %s (docs/relay.md, \"Purge\")", cfg.Task, cfg.Source, describePos(p), err, fix))
}
