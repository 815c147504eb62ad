package units

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"path/filepath"

	"github.com/go-mysql-org/go-mysql/mysql"
)

// A checkpoint belongs to one server (docs/units.md, "Which server a
// checkpoint belongs to"): binlog file names and positions mean nothing
// on another server, even a replica with the same data. Every subtask
// records the identity of the server its checkpoints were written against
// in dmplan_meta.source_server, and checks it before it reads a position:
//
//   - the same server: go on;
//   - another server, and the sync checkpoint is a clean transaction
//     boundary with a GTID set the new server's binlog holds: the
//     checkpoint moves to the new server as that GTID set alone (file:pos
//     and the per-worker marks are dropped, load windows that sync has
//     passed are dropped), and sync continues by GTID;
//   - otherwise a permanent error that says what to do. A file:pos is
//     never read on a server that did not write it.

// serverIdentity names a source server: server_uuid on MySQL, server_id
// and gtid_domain_id on MariaDB, and the base name of its binlog files.
type serverIdentity struct {
	UUID       string
	ServerID   uint32
	DomainID   uint32
	BinlogBase string
}

func (s serverIdentity) String() string {
	if s.UUID != "" {
		return fmt.Sprintf("server_uuid %s (binlog %s)", s.UUID, s.BinlogBase)
	}
	return fmt.Sprintf("server_id %d, gtid_domain_id %d (binlog %s)", s.ServerID, s.DomainID, s.BinlogBase)
}

// readServerIdentity reads the identity of the server src is connected to.
func readServerIdentity(ctx context.Context, src *sql.DB, flavor string) (serverIdentity, error) {
	var id serverIdentity
	var base sql.NullString
	var err error
	if flavor == mysql.MariaDBFlavor {
		err = src.QueryRowContext(ctx, "SELECT @@server_id, @@gtid_domain_id, @@log_bin_basename").Scan(&id.ServerID, &id.DomainID, &base)
	} else {
		err = src.QueryRowContext(ctx, "SELECT @@server_id, @@server_uuid, @@log_bin_basename").Scan(&id.ServerID, &id.UUID, &base)
	}
	if err != nil {
		return id, fmt.Errorf("read source server identity: %w", err)
	}
	if base.Valid {
		id.BinlogBase = filepath.Base(base.String)
	}
	return id, nil
}

func readStoredIdentity(ctx context.Context, q querier, task, source string) (serverIdentity, bool, error) {
	var id serverIdentity
	err := q.QueryRowContext(ctx, `SELECT server_uuid, server_id, domain_id, binlog_base FROM dmplan_meta.source_server
		WHERE task = ? AND source = ?`, task, source).Scan(&id.UUID, &id.ServerID, &id.DomainID, &id.BinlogBase)
	if errors.Is(err, sql.ErrNoRows) {
		return id, false, nil
	}
	if err != nil {
		return id, false, fmt.Errorf("read source server of %s/%s: %w", task, source, err)
	}
	return id, true, nil
}

func storeIdentity(ctx context.Context, q querier, task, source string, id serverIdentity) error {
	if _, err := q.ExecContext(ctx, `INSERT INTO dmplan_meta.source_server (task, source, server_uuid, server_id, domain_id, binlog_base)
		VALUES (?, ?, ?, ?, ?, ?) ON DUPLICATE KEY UPDATE server_uuid = VALUES(server_uuid), server_id = VALUES(server_id),
		domain_id = VALUES(domain_id), binlog_base = VALUES(binlog_base)`,
		task, source, id.UUID, id.ServerID, id.DomainID, id.BinlogBase); err != nil {
		return fmt.Errorf("record source server of %s/%s: %w", task, source, err)
	}
	return nil
}

// hasCheckpoints reports whether the subtask has any dump, load or sync
// checkpoint (a position in some server's binlog).
func hasCheckpoints(ctx context.Context, q querier, task, source string) (bool, error) {
	var n int
	if err := q.QueryRowContext(ctx, `SELECT
		(SELECT COUNT(*) FROM dmplan_meta.sync_checkpoint WHERE task = ? AND source = ?) +
		(SELECT COUNT(*) FROM dmplan_meta.dump_snapshot WHERE task = ? AND source = ?) +
		(SELECT COUNT(*) FROM dmplan_meta.load_done WHERE task = ? AND source = ?)`,
		task, source, task, source, task, source).Scan(&n); err != nil {
		return false, fmt.Errorf("read checkpoints of %s/%s: %w", task, source, err)
	}
	return n > 0, nil
}

// checkSourceServer makes sure the subtask's checkpoints belong to the
// server cfg.From reaches now, moving the sync checkpoint to it by GTID
// when that is exact (see the top of this file). Mode full keeps no
// position, so it is not checked.
func (e *syncEnv) checkSourceServer(ctx context.Context, target *sql.DB) error {
	cfg := e.cfg
	if cfg.Mode == ModeFull {
		return nil
	}
	if err := ensureMeta(ctx, target); err != nil {
		return err
	}
	src, err := Open(cfg.From, 1)
	if err != nil {
		return err
	}
	defer src.Close()
	if e.flavor == "" {
		if e.flavor, err = DetectFlavor(ctx, src); err != nil {
			return err
		}
	}
	now, err := readServerIdentity(ctx, src, e.flavor)
	if err != nil {
		return err
	}
	was, ok, err := readStoredIdentity(ctx, target, cfg.Task, cfg.Source)
	if err != nil {
		return err
	}
	if ok && was == now {
		return nil
	}
	if !ok {
		// A new subtask, or checkpoints older than this record: they are
		// taken as this server's (nothing can tell otherwise).
		if has, err := hasCheckpoints(ctx, target, cfg.Task, cfg.Source); err != nil {
			return err
		} else if has {
			e.log.Warn("the subtask's checkpoints do not say which server wrote them (they predate that record): taking them as this server's",
				"server", now.String())
		}
		return storeIdentity(ctx, target, cfg.Task, cfg.Source, now)
	}
	return e.moveToServer(ctx, src, target, was, now)
}

// moveToServer moves the subtask's checkpoints from server was to server
// now, or returns the permanent error that says why it cannot.
func (e *syncEnv) moveToServer(ctx context.Context, src, target *sql.DB, was, now serverIdentity) error {
	cfg := e.cfg
	name := cfg.Task + "/" + cfg.Source
	fail := func(why, todo string) error {
		return Permanent(fmt.Errorf("source %s of %s is now %s at %s, but the subtask's checkpoints were written against %s: %s; %s",
			cfg.Source, name, now, cfg.From, was, why, todo))
	}
	const back = "point the Source back at the server that wrote them"
	ck, ok, err := readSyncCheckpoint(ctx, target, cfg.Task, cfg.Source)
	if err != nil {
		return err
	}
	if !ok {
		if has, err := hasCheckpoints(ctx, target, cfg.Task, cfg.Source); err != nil {
			return err
		} else if has {
			return fail("its dump/load is not finished and cannot continue from another server",
				back+", or copy from the new server from scratch: empty the target tables and delete the subtask's rows "+
					"from dmplan_meta.dump_snapshot, load_table, load_chunk, load_done and source_server, then resume")
		}
		return storeIdentity(ctx, target, cfg.Task, cfg.Source, now)
	}
	restart := "or, to start over on the new server, give spec.start (a gtid, binlogFile/binlogPos or time of the new server) and apply"
	if ck.Resume.GTID == "" {
		return fail("the checkpoint "+describePos(ck.Resume)+" has no GTID set, and a file:pos of one server is never read on another",
			back+", "+restart)
	}
	resume := seqAt(ck.Resume.File, ck.Resume.Pos, math.MaxUint32)
	for _, m := range ck.Marks {
		if !m.seq().lessEq(resume) {
			return fail("some changes after the checkpoint "+describePos(ck.Resume)+" were applied already (the last run stopped without a clean checkpoint), so the new server cannot tell which",
				back+" and let the subtask resume there until it stops cleanly, then re-point it; "+restart)
		}
	}
	if ck.PendingDDL.File != "" || !ck.DDL.seq().lessEq(resume) {
		return fail("a DDL after the checkpoint "+describePos(ck.Resume)+" was being applied", back+" and let the subtask resume there; "+restart)
	}
	if cfg.Mode == ModeAll {
		w, err := readLoadWindows(ctx, target, cfg.Task, cfg.Source)
		if err != nil {
			return err
		}
		if !w.Until.IsZero() && ComparePositions(w.Until, ck.Resume) > 0 {
			return fail("sync has not yet passed the end of its load's snapshots", back+" and let sync catch up there; "+restart)
		}
	}
	want, err := mysql.ParseGTIDSet(e.flavor, ck.Resume.GTID)
	if err != nil {
		return Permanent(fmt.Errorf("sync %s: checkpoint GTID set %q: %w", name, ck.Resume.GTID, err))
	}
	has, err := serverGTIDs(ctx, src, e.flavor)
	if err != nil {
		return err
	}
	if !has.Contain(want) {
		return fail(fmt.Sprintf("the new server's binlog (GTIDs %s) does not hold the checkpoint's GTID set %s", has, want),
			back+" (or to a replica that has caught up with it), "+restart)
	}
	tx, err := target.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("move checkpoints of %s to another server: %w", name, err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `UPDATE dmplan_meta.sync_checkpoint SET binlog_file = '', binlog_pos = 0, ddl_file = '', ddl_pos = 0,
		pending_file = '', pending_pos = 0, pending_fp = '', updated_at = NOW(6) WHERE task = ? AND source = ?`, cfg.Task, cfg.Source); err != nil {
		return fmt.Errorf("move checkpoints of %s to another server: %w", name, err)
	}
	if err := resetWorkerMarks(ctx, tx, cfg.Task, cfg.Source, ck.Workers); err != nil {
		return err
	}
	// Load windows are positions of the old server, and sync is past them.
	for _, t := range []string{"load_chunk", "dump_snapshot"} {
		extra := ""
		if t == "load_chunk" {
			extra = " AND done = 1"
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM dmplan_meta."+t+" WHERE task = ? AND source = ?"+extra, cfg.Task, cfg.Source); err != nil {
			return fmt.Errorf("move checkpoints of %s to another server: %w", name, err)
		}
	}
	if err := storeIdentity(ctx, tx, cfg.Task, cfg.Source, now); err != nil {
		return err
	}
	if err := commit(ctx, tx); err != nil {
		return fmt.Errorf("move checkpoints of %s to another server: %w", name, err)
	}
	e.log.Warn("the source is another server now: sync continues by GTID on it", "was", was.String(), "now", now.String(),
		"gtid", ck.Resume.GTID)
	return nil
}

// serverGTIDs is the GTID set the server's binlog holds: @@gtid_binlog_pos
// on MariaDB, @@gtid_executed on MySQL.
func serverGTIDs(ctx context.Context, src *sql.DB, flavor string) (mysql.GTIDSet, error) {
	q := "SELECT @@gtid_executed"
	if flavor == mysql.MariaDBFlavor {
		q = "SELECT @@gtid_binlog_pos"
	}
	var s string
	if err := src.QueryRowContext(ctx, q).Scan(&s); err != nil {
		return nil, fmt.Errorf("read the source's GTID set: %w", err)
	}
	set, err := mysql.ParseGTIDSet(flavor, s)
	if err != nil {
		return nil, fmt.Errorf("read the source's GTID set %q: %w", s, err)
	}
	return set, nil
}
