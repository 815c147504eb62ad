package units

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
)

// syncSeq orders the row changes and DDL of one source's binlog: the
// binlog file (its numeric extension), the end position of the event and
// the row's index inside the event. Every change has a distinct seq, and
// reading the binlog again from any earlier place yields the same seqs.
type syncSeq struct {
	File uint32
	Pos  uint32
	Row  uint32
}

func (a syncSeq) less(b syncSeq) bool {
	if a.File != b.File {
		return a.File < b.File
	}
	if a.Pos != b.Pos {
		return a.Pos < b.Pos
	}
	return a.Row < b.Row
}

func (a syncSeq) lessEq(b syncSeq) bool { return !b.less(a) }

func (a syncSeq) isZero() bool { return a == syncSeq{} }

// binlogFileIndex is the numeric extension of a binlog file name
// (mysql-bin.000012 -> 12); 0 for names without one.
func binlogFileIndex(name string) uint32 {
	ext := strings.TrimPrefix(filepath.Ext(name), ".")
	n, err := strconv.ParseUint(ext, 10, 32)
	if err != nil {
		return 0
	}
	return uint32(n)
}

// seqAt is the seq of row row of the event that ends at pos in file.
func seqAt(file string, pos uint32, row uint32) syncSeq {
	if file == "" {
		return syncSeq{}
	}
	return syncSeq{File: binlogFileIndex(file), Pos: pos, Row: row}
}

// workerMark is a worker's committed high-water mark, as stored.
type workerMark struct {
	File string
	Pos  uint32
	Row  uint32
}

func (m workerMark) seq() syncSeq { return seqAt(m.File, m.Pos, m.Row) }

// syncCheckpoint is a subtask's stored sync state.
type syncCheckpoint struct {
	Resume     Position // S: every change before it is applied
	Workers    int
	Gen        uint64
	DDL        workerMark // last DDL applied (Row unused)
	PendingDDL workerMark // DDL being applied, with the target's fingerprint before it
	PendingFP  string
	Marks      []workerMark // per worker, len Workers
}

// readSyncCheckpoint returns the stored checkpoint, or ok=false when the
// subtask has never synced.
func readSyncCheckpoint(ctx context.Context, q querier, task, source string) (ck syncCheckpoint, ok bool, err error) {
	var ddlPos, pendPos uint64
	var pos uint64
	err = q.QueryRowContext(ctx, `SELECT binlog_file, binlog_pos, gtid, workers, run_gen, ddl_file, ddl_pos,
		pending_file, pending_pos, pending_fp FROM dmplan_meta.sync_checkpoint WHERE task = ? AND source = ?`, task, source).
		Scan(&ck.Resume.File, &pos, &ck.Resume.GTID, &ck.Workers, &ck.Gen, &ck.DDL.File, &ddlPos,
			&ck.PendingDDL.File, &pendPos, &ck.PendingFP)
	if errors.Is(err, sql.ErrNoRows) {
		return ck, false, nil
	}
	if err != nil {
		return ck, false, fmt.Errorf("read sync checkpoint of %s/%s: %w", task, source, err)
	}
	ck.Resume.Pos, ck.DDL.Pos, ck.PendingDDL.Pos = uint32(pos), uint32(ddlPos), uint32(pendPos)
	ck.Marks = make([]workerMark, ck.Workers)
	rows, err := q.QueryContext(ctx, `SELECT worker, binlog_file, binlog_pos, row_idx FROM dmplan_meta.sync_worker
		WHERE task = ? AND source = ?`, task, source)
	if err != nil {
		return ck, false, fmt.Errorf("read sync checkpoint of %s/%s: %w", task, source, err)
	}
	defer rows.Close()
	for rows.Next() {
		var w int
		var m workerMark
		if err := rows.Scan(&w, &m.File, &m.Pos, &m.Row); err != nil {
			return ck, false, fmt.Errorf("read sync checkpoint of %s/%s: %w", task, source, err)
		}
		if w < len(ck.Marks) {
			ck.Marks[w] = m
		}
	}
	return ck, true, rows.Err()
}

// createSyncCheckpoint stores the first checkpoint of a subtask: sync
// starts at start with workers workers and nothing applied yet. It does
// nothing when a checkpoint exists already.
func createSyncCheckpoint(ctx context.Context, db *sql.DB, task, source string, start Position, workers int) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("create sync checkpoint of %s/%s: %w", task, source, err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `INSERT IGNORE INTO dmplan_meta.sync_checkpoint
		(task, source, binlog_file, binlog_pos, gtid, workers, run_gen) VALUES (?, ?, ?, ?, ?, ?, 0)`,
		task, source, start.File, start.Pos, start.GTID, workers)
	if err != nil {
		return fmt.Errorf("create sync checkpoint of %s/%s: %w", task, source, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil
	}
	if err := resetWorkerMarks(ctx, tx, task, source, workers); err != nil {
		return err
	}
	if err := commit(ctx, tx); err != nil {
		return fmt.Errorf("create sync checkpoint of %s/%s: %w", task, source, err)
	}
	return nil
}

// resetWorkerMarks replaces the worker rows by workers empty ones. Only
// valid at a point where every stored mark is before the resume point.
func resetWorkerMarks(ctx context.Context, tx *sql.Tx, task, source string, workers int) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM dmplan_meta.sync_worker WHERE task = ? AND source = ?`, task, source); err != nil {
		return fmt.Errorf("reset sync workers of %s/%s: %w", task, source, err)
	}
	for w := 0; w < workers; w++ {
		if _, err := tx.ExecContext(ctx, `INSERT INTO dmplan_meta.sync_worker (task, source, worker, binlog_file, binlog_pos, row_idx)
			VALUES (?, ?, ?, '', 0, 0)`, task, source, w); err != nil {
			return fmt.Errorf("reset sync workers of %s/%s: %w", task, source, err)
		}
	}
	return nil
}

// bumpSyncGen starts a run: it increments the run generation and returns
// it. Checkpoint writes of older runs then fail (errSuperseded).
func bumpSyncGen(ctx context.Context, db *sql.DB, task, source string) (uint64, error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("start sync run of %s/%s: %w", task, source, err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `UPDATE dmplan_meta.sync_checkpoint SET run_gen = run_gen + 1 WHERE task = ? AND source = ?`,
		task, source); err != nil {
		return 0, fmt.Errorf("start sync run of %s/%s: %w", task, source, err)
	}
	var gen uint64
	if err := tx.QueryRowContext(ctx, `SELECT run_gen FROM dmplan_meta.sync_checkpoint WHERE task = ? AND source = ?`,
		task, source).Scan(&gen); err != nil {
		return 0, fmt.Errorf("start sync run of %s/%s: %w", task, source, err)
	}
	return gen, commit(ctx, tx)
}

// errSuperseded: another run of the same subtask took over the checkpoint.
var errSuperseded = errors.New("another run of this subtask took over its checkpoint")

// syncMeta writes the subtask row of the checkpoint for one run.
type syncMeta struct {
	db           *sql.DB
	task, source string
	gen          uint64
}

func (m *syncMeta) exec(ctx context.Context, what, set string, args ...any) error {
	args = append(args, m.task, m.source, m.gen)
	res, err := m.db.ExecContext(ctx, `UPDATE dmplan_meta.sync_checkpoint SET `+set+`, updated_at = NOW(6)
		WHERE task = ? AND source = ? AND run_gen = ?`, args...)
	if err != nil {
		return fmt.Errorf("%s of %s/%s: %w", what, m.task, m.source, err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return fmt.Errorf("%s of %s/%s: %w", what, m.task, m.source, errSuperseded)
	}
	return nil
}

// saveResume stores the resume point S.
func (m *syncMeta) saveResume(ctx context.Context, p Position) error {
	return m.exec(ctx, "save sync checkpoint", "binlog_file = ?, binlog_pos = ?, gtid = ?", p.File, p.Pos, p.GTID)
}

// ddlPending records that the DDL ending at at is about to be applied,
// with fp, the fingerprint of the target objects it touches before it
// runs; resume is where a restart must read from (before the DDL).
func (m *syncMeta) ddlPending(ctx context.Context, at workerMark, fp string, resume Position) error {
	return m.exec(ctx, "record DDL in progress", "pending_file = ?, pending_pos = ?, pending_fp = ?, binlog_file = ?, binlog_pos = ?, gtid = ?",
		at.File, at.Pos, fp, resume.File, resume.Pos, resume.GTID)
}

// ddlDone records that the DDL ending at at has been applied (or found
// applied) and moves the resume point to resume.
func (m *syncMeta) ddlDone(ctx context.Context, at workerMark, resume Position) error {
	return m.exec(ctx, "record DDL applied", "ddl_file = ?, ddl_pos = ?, pending_file = '', pending_pos = 0, pending_fp = '', binlog_file = ?, binlog_pos = ?, gtid = ?",
		at.File, at.Pos, resume.File, resume.Pos, resume.GTID)
}

// reshape changes the number of workers at a consistent point: resume is
// a boundary before which every change is applied and after which none is.
func (m *syncMeta) reshape(ctx context.Context, resume Position, workers int) error {
	tx, err := m.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("change sync workers of %s/%s: %w", m.task, m.source, err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `UPDATE dmplan_meta.sync_checkpoint SET binlog_file = ?, binlog_pos = ?, gtid = ?, workers = ?,
		updated_at = NOW(6) WHERE task = ? AND source = ? AND run_gen = ?`,
		resume.File, resume.Pos, resume.GTID, workers, m.task, m.source, m.gen)
	if err != nil {
		return fmt.Errorf("change sync workers of %s/%s: %w", m.task, m.source, err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return fmt.Errorf("change sync workers of %s/%s: %w", m.task, m.source, errSuperseded)
	}
	if err := resetWorkerMarks(ctx, tx, m.task, m.source, workers); err != nil {
		return err
	}
	if err := commit(ctx, tx); err != nil {
		return fmt.Errorf("change sync workers of %s/%s: %w", m.task, m.source, err)
	}
	return nil
}

// ResetSync forgets a subtask's sync checkpoint: the next incremental run
// starts from Config.Start (or the source's current position), the next
// "all" run from a dump.
func ResetSync(ctx context.Context, target *sql.DB, task, source string) error {
	if err := ensureMeta(ctx, target); err != nil {
		return err
	}
	for _, t := range []string{"sync_checkpoint", "sync_worker", "validation_error", "shard_hold"} {
		if _, err := target.ExecContext(ctx, "DELETE FROM dmplan_meta."+t+" WHERE task = ? AND source = ?", task, source); err != nil {
			return fmt.Errorf("reset sync checkpoint of %s/%s: %w", task, source, err)
		}
	}
	return nil
}
