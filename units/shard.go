package units

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/dmplan/dmplan/units/ddl"
	"github.com/dmplan/dmplan/units/job"
)

// Shard DDL coordination, pessimistic (docs/shard-ddl.md). A DDL on a
// table that a route merges with other shards joins the target table's
// lock (Config.Shard, kept in etcd by the agent). Until every shard of
// every source has reached the same DDL, the source table's later changes
// are held: dropped from the stream, with a dmplan_meta.shard_hold row
// that keeps the stored resume point before the DDL. The shard whose join
// completes the lock executes the DDL; every other one, seeing the lock
// executed, ends its attempt, and the next attempt reads again from
// before the DDL: it skips the DDL and applies the held changes
// idempotently, past the worker marks (they are after them, but never
// covered them), up to the highest mark; from there on sync is as usual.

// shardAct is what the coordination decided for a statement.
type shardAct int

const (
	shardNone   shardAct = iota // not coordinated: apply as usual
	shardDrop                   // held: not applied, not recorded
	shardPassed                 // executed by another shard: record it done
	shardRun                    // this shard executes it
	shardReplay                 // a held table's later DDL, replayed: apply even if the checkpoint says done
	shardSkip                   // kept off the target by spec.shardDDL.resolve: the shard's source view follows it
)

// shardSync is a sync attempt's side of the coordination.
type shardSync struct {
	coord    job.ShardCoordinator
	holds    map[tableRef]*shardHold
	lastPoll time.Time
	// running: the lock whose DDL this shard is executing (Done after it)
	running *shardHold
}

func (s *syncer) initShard(ctx context.Context) error {
	if s.cfg.ShardMode != job.ShardPessimistic || s.cfg.Shard == nil {
		return nil
	}
	holds, err := readShardHolds(ctx, s.target, s.cfg.Task, s.cfg.Source)
	if err != nil {
		return err
	}
	s.shard = &shardSync{coord: s.cfg.Shard, holds: holds}
	for _, h := range holds {
		if err := s.rejoin(ctx, h); err != nil {
			return err
		}
	}
	return nil
}

// rejoin joins the lock of a hold again when the lock no longer counts
// this shard: it was deleted with its task (an apply deleting a task
// deletes its locks, docs/shard-ddl.md) and the task was created again
// under the name, resuming from the checkpoints, holds included, that
// stayed in the target. A lock is otherwise never gone while a shard
// holds on it: it is deleted once every shard has passed it, and a
// holding shard passes it only after its hold is done.
func (s *syncer) rejoin(ctx context.Context, h *shardHold) error {
	if h.done {
		return nil
	}
	shard := job.ShardName(s.cfg.Source, h.src.Schema+"."+h.src.Name)
	l, ok, err := s.shard.coord.Lock(ctx, s.cfg.Task, h.target)
	if err != nil {
		return fmt.Errorf("sync %s/%s: read the DDL lock of %s: %w", s.cfg.Task, s.cfg.Source, h.target, err)
	}
	if ok && (l.Executed || l.DDL == h.ddl && !l.Joined[shard].IsZero()) {
		return nil
	}
	tables, err := s.shardTables(ctx, h.target)
	if err != nil {
		return err
	}
	l, err = s.shard.coord.Join(ctx, job.ShardJoin{Task: s.cfg.Task, Target: h.target, Sources: s.cfg.ShardSources,
		Source: s.cfg.Source, Tables: tables, Table: h.src.Schema + "." + h.src.Name, DDL: h.ddl, Force: s.resolution(h.target, h.ddl) == "execute"})
	if err != nil {
		return fmt.Errorf("sync %s/%s: join the DDL lock of %s again: %w", s.cfg.Task, s.cfg.Source, h.target, err)
	}
	if l.DDL != h.ddl {
		return Permanent(fmt.Errorf("sync %s/%s: shard %s holds its changes on a DDL of the merged table %s that differs from the one the other shards are at (pessimistic shard mode: every shard must run the same DDLs in the same order):\n  this shard: %s\n  the lock (since %s, reached by %s): %s\n"+
			"run the same DDL on every shard, or resolve it in spec.shardDDL.resolve (action skip or execute)",
			s.cfg.Task, s.cfg.Source, shard, h.target, h.ddl, l.Since.UTC().Format(time.RFC3339), strings.Join(joinedNames(l), ", "), l.DDL))
	}
	// The join completed the lock: this shard runs the DDL when it reads
	// it again (the resume point is before it).
	h.owner = l.Owner == shard && !l.Executed
	s.log.Info("shard DDL lock joined again (it no longer counted this shard's hold)", "table", h.src, "target", h.target, "awaited", l.Awaited())
	return nil
}

// holding reports whether a table's changes are held or replayed.
func (s *syncer) holding() bool { return s.shard != nil && len(s.shard.holds) > 0 }

// shardRows says what becomes of a rows event of a source table: dropped
// (held), or replayed (apply idempotently, past the worker marks).
func (s *syncer) shardRows(src tableRef, pos uint32) (drop, replay bool) {
	if !s.holding() {
		return false, false
	}
	h := s.shard.holds[src]
	if h == nil || !h.at.less(seqAt(s.file, pos, 0)) {
		return false, false
	}
	return !h.done, h.done
}

// coordinated returns the merged target table of a statement that takes
// a lock, or "" when it does not.
func (s *syncer) coordinated(p *ddl.Plan) (src tableRef, target string) {
	if s.shard == nil || len(p.Src) != 1 || len(p.Tables) != 1 {
		return tableRef{}, ""
	}
	switch p.Kind {
	case "ALTER TABLE", "CREATE INDEX", "DROP INDEX":
	default:
		return tableRef{}, ""
	}
	src = tableRef{p.Src[0].Schema, p.Src[0].Name}
	r := s.route(src.Schema, src.Name)
	if r.skip || !s.routedByRule(src) {
		return tableRef{}, ""
	}
	return src, r.dst.Schema + "." + r.dst.Name
}

// routedByRule: a route rule sends the table to its target (so several
// sources, or several tables, may share it).
func (s *syncer) routedByRule(t tableRef) bool {
	for _, rule := range s.router.Rules() {
		if rule.From.Match(s.foldName(t.Schema), s.foldName(t.Name)) {
			return true
		}
	}
	return false
}

// NormalizeDDL is how statements of a lock are compared: whitespace runs
// made one space, a final semicolon dropped.
func NormalizeDDL(stmt string) string {
	return strings.TrimSuffix(strings.Join(strings.Fields(stmt), " "), ";")
}

// shardStatement decides what a statement of the stream does under the
// coordination. seq is its mark; resume the point before it.
func (s *syncer) shardStatement(ctx context.Context, p *ddl.Plan, seq syncSeq, mark workerMark, resume Position) (shardAct, error) {
	if s.shard == nil {
		return shardNone, nil
	}
	if p.Kind == "CREATE TABLE" && !seq.lessEq(s.ddlDone) {
		return shardNone, s.shardCreated(ctx, p)
	}
	src, target := s.coordinated(p)
	if h := s.shard.holds[src]; target != "" && h != nil {
		switch {
		case seq == h.at && h.done:
			if err := s.shard.coord.Ack(ctx, s.cfg.Task, h.target, job.ShardName(s.cfg.Source, src.Schema+"."+src.Name), h.ddl); err != nil {
				return 0, err
			}
			if s.resolution(h.target, h.ddl) == "skip" {
				return shardSkip, nil
			}
			s.log.Info("shard DDL executed by another shard: skipped", "table", src, "target", h.target, "binlog", s.file, "pos", seq.Pos)
			return shardPassed, nil
		case seq == h.at && (h.owner || s.resolution(h.target, h.ddl) == "execute"):
			// Resolved while held, or the owner since it joined again:
			// join again (forced when resolved), below.
		case seq == h.at:
			return shardDrop, nil // joined already; waiting
		case h.at.less(seq) && !h.done:
			return shardDrop, nil // replayed after the lock
		}
		// A later DDL of a replayed table: coordinated as a new one.
	}
	if target == "" {
		return shardNone, nil
	}
	replay := false
	if h := s.shard.holds[src]; h != nil && h.done && h.at.less(seq) {
		replay = true
	} else if seq.lessEq(s.ddlDone) {
		return shardNone, nil // applied before a restart: the usual check skips it
	}
	stmt := NormalizeDDL(p.Stmt)
	shard := job.ShardName(s.cfg.Source, src.Schema+"."+src.Name)
	res := s.resolution(target, stmt)
	if res == "skip" {
		// Nobody runs it; a lock waiting on it is released.
		if l, ok, err := s.shard.coord.Lock(ctx, s.cfg.Task, target); err != nil {
			return 0, err
		} else if ok && l.DDL == stmt && !l.Executed {
			if err := s.shard.coord.Done(ctx, s.cfg.Task, target, stmt); err != nil {
				return 0, err
			}
		}
		s.log.Warn("shard DDL skipped by spec.shardDDL.resolve", "table", src, "target", target)
		return shardSkip, nil
	}
	tables, err := s.shardTables(ctx, target)
	if err != nil {
		return 0, err
	}
	l, err := s.shard.coord.Join(ctx, job.ShardJoin{Task: s.cfg.Task, Target: target, Sources: s.cfg.ShardSources,
		Source: s.cfg.Source, Tables: tables, Table: src.Schema + "." + src.Name, DDL: stmt, Force: res == "execute"})
	if err != nil {
		return 0, fmt.Errorf("sync %s/%s: join the DDL lock of %s: %w", s.cfg.Task, s.cfg.Source, target, err)
	}
	if l.DDL != stmt {
		return 0, Permanent(fmt.Errorf("sync %s/%s: shard %s reached a DDL on the merged table %s that differs from the one the other shards are at (pessimistic shard mode: every shard must run the same DDLs in the same order):\n  this shard: %s\n  the lock (since %s, reached by %s): %s\n"+
			"run the same DDL on every shard, or resolve it in spec.shardDDL.resolve (action skip or execute)",
			s.cfg.Task, s.cfg.Source, shard, target, stmt, l.Since.UTC().Format(time.RFC3339), strings.Join(joinedNames(l), ", "), l.DDL))
	}
	h := &shardHold{src: src, target: target, ddl: stmt, at: seq, atMark: mark, from: resume}
	switch {
	case l.Owner == shard && !l.Executed:
		s.shard.running = h
		s.log.Info("shard DDL lock complete: executing", "table", src, "target", target)
		if replay {
			return shardReplay, nil
		}
		return shardRun, nil
	case l.Executed || l.Owner == shard:
		if err := s.shard.coord.Ack(ctx, s.cfg.Task, target, shard, stmt); err != nil {
			return 0, err
		}
		return shardPassed, nil
	}
	if err := s.flush(ctx); err != nil {
		return 0, err
	}
	if err := s.meta.putShardHold(ctx, h); err != nil {
		return 0, err
	}
	s.shard.holds[src] = h
	s.log.Info("shard DDL lock joined: holding the table's changes", "table", src, "target", target, "awaited", l.Awaited())
	return shardDrop, nil
}

// shardExecuted records, after this shard ran a lock's DDL, that the lock
// is executed.
func (s *syncer) shardExecuted(ctx context.Context) error {
	if s.shard == nil || s.shard.running == nil {
		return nil
	}
	h := s.shard.running
	s.shard.running = nil
	if err := s.shard.coord.Done(ctx, s.cfg.Task, h.target, h.ddl); err != nil {
		return err
	}
	return s.shard.coord.Ack(ctx, s.cfg.Task, h.target, job.ShardName(s.cfg.Source, h.src.Schema+"."+h.src.Name), h.ddl)
}

func joinedNames(l job.ShardLock) []string {
	out := make([]string, 0, len(l.Joined))
	for n := range l.Joined {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

func (s *syncer) resolution(target, stmt string) string {
	for _, r := range s.cfg.ShardResolve {
		if r.Table == target && NormalizeDDL(r.DDL) == stmt {
			return r.Action
		}
	}
	return ""
}

// shardTables lists the source's tables that route to target.
func (s *syncer) shardTables(ctx context.Context, target string) ([]string, error) {
	rows, err := s.source.QueryContext(ctx, "SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES WHERE TABLE_TYPE = 'BASE TABLE'")
	if err != nil {
		return nil, fmt.Errorf("sync %s/%s: list the shards of %s: %w", s.cfg.Task, s.cfg.Source, target, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var db, t string
		if err := rows.Scan(&db, &t); err != nil {
			return nil, err
		}
		r := s.route(db, t)
		if !r.skip && r.dst.Schema+"."+r.dst.Name == target && s.routedByRule(tableRef{db, t}) {
			out = append(out, db+"."+t)
		}
	}
	slices.Sort(out)
	return out, rows.Err()
}

// shardPoll, on ticks, asks whether the locks of held tables were
// executed; when one was, the attempt ends (errRestart) and the next one
// replays the held changes.
func (s *syncer) shardPoll(ctx context.Context) error {
	if !s.holding() || time.Since(s.shard.lastPoll) < time.Second {
		return nil
	}
	s.shard.lastPoll = time.Now()
	restart := false
	for _, h := range s.shard.holds {
		if h.done {
			continue
		}
		if s.resolution(h.target, h.ddl) == "skip" {
			// Resolved while held: nobody runs it; the lock is released.
			if err := s.shard.coord.Done(ctx, s.cfg.Task, h.target, h.ddl); err != nil {
				s.log.Warn("release the shard DDL lock", "target", h.target, "err", err)
				return nil
			}
		}
		l, ok, err := s.shard.coord.Lock(ctx, s.cfg.Task, h.target)
		if err != nil {
			s.log.Warn("read the shard DDL lock", "target", h.target, "err", err)
			return nil
		}
		// Gone, or replaced by a later DDL's lock: executed (a lock is
		// removed only after every shard passed it).
		if ok && l.DDL == h.ddl && !l.Executed {
			continue
		}
		if err := s.flush(ctx); err != nil {
			return err
		}
		h.done = true
		if err := s.meta.putShardHold(ctx, h); err != nil {
			return err
		}
		s.log.Info("shard DDL lock executed: replaying the held changes", "table", h.src, "target", h.target)
		restart = true
	}
	if restart {
		return errRestart
	}
	return nil
}

// capResume keeps a resume point before every held DDL.
func (s *syncer) capResume(p Position) Position {
	if !s.holding() {
		return p
	}
	at := seqAt(p.File, p.Pos, 0)
	for _, h := range s.shard.holds {
		if f := seqAt(h.from.File, h.from.Pos, 0); f.less(at) {
			p, at = h.from, f
		}
	}
	return p
}

// endReplays ends the holds whose changes are replayed and committed:
// the resume point is past the DDL and past every worker mark the
// attempt started with.
func (s *syncer) endReplays(ctx context.Context, safe Position) error {
	if !s.holding() {
		return nil
	}
	at := seqAt(safe.File, safe.Pos, 0)
	for src, h := range s.shard.holds {
		if !h.replaying || !h.at.less(at) || !s.maxMark.less(at) {
			continue
		}
		if err := s.meta.deleteShardHold(ctx, h); err != nil {
			return err
		}
		delete(s.shard.holds, src)
	}
	return nil
}

// appliedEvent reports whether a rows event whose rows no longer fit the
// target table (a shard DDL executed since) was applied before: every row
// is within the replay window and its worker's mark covers it. Replaying
// from before a held DDL reads such events of the other shards again.
func (s *syncer) appliedEvent(e *replication.RowsEvent, t *syncTable, pos uint32) bool {
	if s.shard == nil || t.key == nil || t.fkGroup != "" {
		return false
	}
	step := 1
	if e.Type() == replication.EnumRowsEventTypeUpdate {
		step = 2
	}
	for i := 0; i+step <= len(e.Rows); i += step {
		seq := syncSeq{File: s.fileIdx, Pos: pos, Row: uint32(i / step)}
		row := e.Rows[i]
		for _, k := range t.key {
			if k >= len(row) {
				return false
			}
		}
		if !seq.lessEq(s.maxMark) {
			return false
		}
		key := make([]any, len(row))
		copy(key, row)
		if err := normalizeRows(t, key); err != nil {
			return false
		}
		w := int(workerHash(t, key) % uint64(len(s.marks)))
		if !seq.lessEq(s.marks[w]) {
			return false
		}
	}
	return true
}

// shardCreated stops sync when a shard table is created while a lock of
// its merged table is open, awaiting the creating source's other shards:
// the lock does not await the new shard, and the new shard would never
// reach the lock's DDL in step with the others (DM refuses it likewise).
func (s *syncer) shardCreated(ctx context.Context, p *ddl.Plan) error {
	if len(p.Src) == 0 {
		return nil
	}
	src := tableRef{p.Src[0].Schema, p.Src[0].Name}
	r := s.route(src.Schema, src.Name)
	if r.skip || !s.routedByRule(src) {
		return nil
	}
	target := r.dst.Schema + "." + r.dst.Name
	l, ok, err := s.shard.coord.Lock(ctx, s.cfg.Task, target)
	if err != nil || !ok || l.Executed {
		return err
	}
	tables, reported := l.Expected[s.cfg.Source]
	if !reported || s.resolution(target, l.DDL) != "" {
		return nil // the source reports its shards (the new one too) when it joins; or the lock is being resolved
	}
	if slices.Contains(tables, src.Schema+"."+src.Name) {
		return nil // awaited already
	}
	return Permanent(fmt.Errorf("sync %s/%s: shard table %s was created while the DDL lock of the merged table %s is open (since %s: %s; awaiting %s): "+
		"pessimistic mode cannot add a shard to an open lock; decide the lock's DDL in spec.shardDDL.resolve (skip, or execute to run it now), and the new shard joins the merge",
		s.cfg.Task, s.cfg.Source, src, target, l.Since.UTC().Format(time.RFC3339), l.DDL, strings.Join(l.Awaited(), ", ")))
}
