package units

import (
	"context"
	"crypto/tls"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
)

// Where a new incremental subtask starts (docs/units.md, "Where sync
// starts"): the position is pinned — stored as the subtask's first sync
// checkpoint — as soon as an agent first takes the subtask, whatever its
// stage. A paused or stopped subtask is pinned by Pin; a running one by
// Run, in the same way. From then on the checkpoint decides: resuming
// later replays every change made since.

// startTimeOverlap is how long after a start time changes are applied in
// their idempotent form (REPLACE, delete-if-present): a change that a
// backup taken around that time already holds is then harmless.
const startTimeOverlap = 60 * time.Second

// Pin records where a subtask's sync starts, without running it: for mode
// incremental with no sync checkpoint, the configured start (a GTID set, a
// file:pos, or the first transaction at or after a time) or else the
// source's current position becomes the first checkpoint in the target's
// dmplan_meta. It returns the checkpoint's resume position. Other modes
// start where their dump does, so Pin does nothing for them. Pin takes the
// subtask's target lock, so it never races a run of the same subtask, and
// it is idempotent: a stored checkpoint is kept (unless the configuration
// changed in a way that starts the subtask over, see reconcileConfig).
func Pin(ctx context.Context, cfg Config, log *slog.Logger) (Position, error) {
	if cfg.Mode != ModeIncremental {
		return Position{}, nil
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg = withRunDefaults(cfg)
	e, err := newSyncEnv(cfg, log.With("task", cfg.Task, "source", cfg.Source))
	if err != nil {
		return Position{}, err
	}
	e.baseLog = log
	target, err := openSyncTarget(cfg.To, 2)
	if err != nil {
		return Position{}, err
	}
	defer target.Close()
	var at Position
	err = withSubtaskLock(ctx, target, cfg, e.log, e.prog, func(ctx context.Context, f fence) error {
		e.fence = f
		defer func() { e.fence = fence{} }()
		if err := e.reconcileConfig(ctx, target, ReporterFunc(func(Progress) {})); err != nil {
			return err
		}
		if err := e.checkSourceServer(ctx, target); err != nil {
			return err
		}
		ck, err := e.pinStart(ctx, target, nil)
		at = ck.Resume
		return err
	})
	return at, err
}

// pinStart returns the subtask's sync checkpoint, creating it first when
// there is none (the start position: startPosition).
func (e *syncEnv) pinStart(ctx context.Context, target *sql.DB, r Reporter) (syncCheckpoint, error) {
	cfg := e.cfg
	if err := ensureMeta(ctx, target); err != nil {
		return syncCheckpoint{}, err
	}
	ck, ok, err := readSyncCheckpoint(ctx, target, cfg.Task, cfg.Source)
	if err != nil || ok {
		return ck, err
	}
	start, err := e.startPosition(ctx, r)
	if err != nil {
		return ck, err
	}
	if err := createSyncCheckpoint(ctx, target, cfg.Task, cfg.Source, start, cfg.SyncWorkers); err != nil {
		return ck, err
	}
	if cfg.Mode == ModeIncremental {
		e.log.Info("sync start position pinned: the first sync checkpoint is stored", "at", describePos(start))
	}
	ck, _, err = readSyncCheckpoint(ctx, target, cfg.Task, cfg.Source)
	return ck, err
}

// startPosition is where a subtask without a sync checkpoint starts.
func (e *syncEnv) startPosition(ctx context.Context, r Reporter) (Position, error) {
	cfg := e.cfg
	if cfg.Mode == ModeAll {
		return DumpLoadWith(ctx, cfg, DumpLoadOptions{fence: e.fence}, r, e.baseLog)
	}
	if !cfg.Start.IsZero() {
		return cfg.Start, nil
	}
	src, err := Open(cfg.From, 1)
	if err != nil {
		return Position{}, err
	}
	defer src.Close()
	if e.flavor == "" {
		if e.flavor, err = DetectFlavor(ctx, src); err != nil {
			return Position{}, err
		}
	}
	if !cfg.StartTime.IsZero() {
		p, err := positionAtTime(ctx, src, cfg, e.flavor, cfg.StartTime)
		if err != nil {
			return Position{}, err
		}
		e.log.Info("incremental sync starts at the first transaction at or after the start time",
			"time", cfg.StartTime.UTC().Format(time.RFC3339), "at", describePos(p))
		return p, nil
	}
	p, err := currentPosition(ctx, src, e.flavor)
	if err != nil {
		return Position{}, err
	}
	e.log.Info("incremental sync starts at the source's current position", "at", describePos(p))
	return p, nil
}

// binlogFiles lists the source's binlog files, oldest first.
func binlogFiles(ctx context.Context, src *sql.DB) ([]string, error) {
	rows, err := src.QueryContext(ctx, "SHOW BINARY LOGS")
	if err != nil {
		return nil, fmt.Errorf("list source binlog files: %w", err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, fmt.Errorf("list source binlog files: %w", err)
	}
	var out []string
	for rows.Next() {
		vals := make([]any, len(cols))
		var name string
		vals[0] = &name
		for i := 1; i < len(vals); i++ {
			vals[i] = new(sql.RawBytes)
		}
		if err := rows.Scan(vals...); err != nil {
			return nil, fmt.Errorf("list source binlog files: %w", err)
		}
		out = append(out, name)
	}
	return out, rows.Err()
}

// positionAtTime finds the first transaction whose first event is stamped
// at or after t: the newest binlog file created at or before t is read
// from its start until such a transaction, or until the position the
// binlog had when the search began (no transaction that late yet: sync
// starts there). The result is a transaction boundary with its GTID set.
func positionAtTime(ctx context.Context, src *sql.DB, cfg Config, flavor string, t time.Time) (Position, error) {
	end, err := currentPosition(ctx, src, flavor)
	if err != nil {
		return Position{}, err
	}
	files, err := binlogFiles(ctx, src)
	if err != nil {
		return Position{}, err
	}
	tc, err := binlogTLS(ctx, cfg.From, src)
	if err != nil {
		return Position{}, err
	}
	want := uint32(max(t.Unix(), 0))
	if t.Unix() > int64(^uint32(0)) {
		want = ^uint32(0)
	}
	// The newest file that begins at or before t (a file's format
	// description event is stamped when the file was opened).
	from := -1
	for i := len(files) - 1; i >= 0; i-- {
		ts, err := binlogFileTime(ctx, cfg, flavor, tc, files[i])
		if err != nil {
			return Position{}, err
		}
		if ts < want { // a file opened in second want may follow transactions stamped want
			from = i
			break
		}
	}
	if from < 0 {
		if len(files) == 0 {
			return Position{}, Permanent(errors.New("find start time: the source has no binlog files: set log_bin on it"))
		}
		return Position{}, Permanent(fmt.Errorf("find start time %s: the source's oldest binlog file %s was opened after it (older ones were purged): "+
			"give a later spec.start time, or a gtid or binlogFile that the source still has", t.UTC().Format(time.RFC3339), files[0]))
	}
	p, err := scanForTime(ctx, cfg, flavor, tc, files[from], want, end)
	if err != nil {
		return Position{}, err
	}
	if p.GTID == "" && flavor == mysql.MariaDBFlavor {
		if p.GTID, err = gtidAt(ctx, src, p); err != nil {
			return Position{}, err
		}
	}
	return p, nil
}

// binlogFileTime returns the time the binlog file was opened: the stamp
// of its format description event.
func binlogFileTime(ctx context.Context, cfg Config, flavor string, tc *tls.Config, file string) (uint32, error) {
	s, st, err := openBinlog(cfg, flavor, Position{File: file, Pos: 4}, tc, slog.New(slog.DiscardHandler))
	if err != nil {
		return 0, fmt.Errorf("find start time: %w", err)
	}
	defer s.Close()
	for {
		ev, err := st.GetEvent(ctx)
		if err != nil {
			return 0, fmt.Errorf("find start time: read %s: %w", file, err)
		}
		if _, ok := ev.Event.(*replication.FormatDescriptionEvent); ok {
			return ev.Header.Timestamp, nil
		}
	}
}

// scanForTime reads from the start of file until the first transaction
// stamped at or after want, or until end.
func scanForTime(ctx context.Context, cfg Config, flavor string, tc *tls.Config, file string, want uint32, end Position) (Position, error) {
	s, st, err := openBinlog(cfg, flavor, Position{File: file, Pos: 4}, tc, slog.New(slog.DiscardHandler))
	if err != nil {
		return Position{}, fmt.Errorf("find start time: %w", err)
	}
	defer s.Close()
	endSeq := seqAt(end.File, end.Pos, 0)
	cur := file
	var mysqlSet mysql.GTIDSet // MySQL: the GTID set before the current event
	sawGTID := false           // transactions begin with a GTID event (else with BEGIN)
	for {
		ev, err := st.GetEvent(ctx)
		if err != nil {
			return Position{}, fmt.Errorf("find start time: read %s: %w", cur, err)
		}
		h := ev.Header
		switch e := ev.Event.(type) {
		case *replication.RotateEvent:
			cur = string(e.NextLogName)
			continue
		case *replication.PreviousGTIDsEvent:
			if flavor == mysql.MySQLFlavor {
				if mysqlSet, err = mysql.ParseGTIDSet(flavor, e.GTIDSets); err != nil {
					return Position{}, fmt.Errorf("find start time: previous GTIDs of %s: %w", cur, err)
				}
			}
			continue
		}
		if h.LogPos == 0 || h.Flags&replication.LOG_EVENT_ARTIFICIAL_F != 0 {
			continue
		}
		begin := h.LogPos - h.EventSize
		if !seqAt(cur, begin, 0).less(endSeq) {
			return end, nil // no transaction that late yet
		}
		var gtid string
		switch e := ev.Event.(type) {
		case *replication.MariadbGTIDEvent:
			sawGTID = true
		case *replication.GTIDEvent:
			gtid, sawGTID = mysqlGTID(e), true
		case *replication.QueryEvent:
			if string(e.Query) != "BEGIN" || sawGTID {
				continue
			}
		default:
			continue
		}
		// A transaction starts here.
		if h.Timestamp >= want {
			p := Position{File: cur, Pos: begin}
			if mysqlSet != nil {
				p.GTID = mysqlSet.String()
			}
			return p, nil
		}
		if mysqlSet != nil && gtid != "" {
			if err := mysqlSet.Update(gtid); err != nil {
				return Position{}, fmt.Errorf("find start time: GTID %s: %w", gtid, err)
			}
		}
	}
}
