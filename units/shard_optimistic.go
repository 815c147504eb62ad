package units

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/dmplan/dmplan/internal/shardjoin"
	"github.com/dmplan/dmplan/units/ddl"
	"github.com/dmplan/dmplan/units/job"
)

// Shard DDL coordination, optimistic (docs/shard-ddl.md). Each shard
// table of a merged target table keeps its own definition as a source
// view in the target's dmplan_meta (sync_view.go): its rows are read with
// the view's columns and written by name, so the target table may have
// columns a shard lacks. The views start as a copy of the target table
// taken before any shard changed it (the base, dmplan_meta.base_<hash>).
// A shard's ALTER TABLE, CREATE INDEX or DROP INDEX runs on its view (a
// shard table created while the task runs gets a view by its own CREATE
// TABLE, and shardjoin.DecideNew checks it against the others);
// the view's definition after it, the definitions of the other shards
// (in etcd, job.ShardSchema) and shardjoin.Decide say whether the change
// is compatible; if so, the target is brought to the join of all shards
// (shardjoin.Clauses), otherwise the shard stops with a permanent error
// naming the conflict, until spec.shardDDL.resolve decides it.
//
// Exactly once: the checkpoint's resume point moves to just before the
// DDL first (ddlPending); the view's DDL has its own record (followView); the
// decision is kept in etcd under the DDL's position, so a DDL read again
// after a crash finds it; the target's clauses are computed from the
// target's definition and the current join, so running them again
// changes nothing. The DDL is recorded done in the checkpoint last.

// optSync is a sync attempt's side of optimistic coordination.
type optSync struct {
	schemas job.ShardSchemas
	// noBase: target table -> the table cache generation in which it had
	// no base yet (no shard had changed it): its shards need no view
	noBase map[tableRef]int
	// shard: source table -> a route rule sends it to its target (cached:
	// asked for every rows event of a table without a view)
	shard map[tableRef]bool
}

func (s *syncer) initOptimistic(ctx context.Context) error {
	if s.cfg.ShardMode != job.ShardOptimistic || s.cfg.Schemas == nil {
		return nil
	}
	// Changes held by pessimistic locks are replayed only by pessimistic
	// mode: switching now would lose them.
	holds, err := readShardHolds(ctx, s.target, s.cfg.Task, s.cfg.Source)
	if err != nil {
		return err
	}
	for _, h := range holds {
		return Permanent(fmt.Errorf("sync %s/%s: spec.shardMode is optimistic, but the pessimistic DDL lock of %s (%s) still holds changes of %s: "+
			"set spec.shardMode back to pessimistic until the lock completes and its changes are replayed (dmplan status lists open locks), then change it",
			s.cfg.Task, s.cfg.Source, h.target, h.ddl, h.src))
	}
	s.opt = &optSync{schemas: s.cfg.Schemas, noBase: map[tableRef]int{}, shard: map[tableRef]bool{}}
	return nil
}

// baseName is the dmplan_meta table holding a merged target table's
// definition from before any shard changed it.
func (s *syncer) baseName(dst tableRef) string {
	h := sha256.Sum256([]byte(s.cfg.Task + "\x00" + dst.Schema + "\x00" + dst.Name))
	return "base_" + hex.EncodeToString(h[:10])
}

// optCoordinated returns the source table and merged target table of a
// statement optimistic mode coordinates ("" when none); create: it is a
// CREATE TABLE of a shard.
func (s *syncer) optCoordinated(p *ddl.Plan) (src tableRef, target string, create bool) {
	if s.opt == nil || len(p.Src) == 0 || len(p.Tables) == 0 {
		return tableRef{}, "", false
	}
	switch p.Kind {
	case "ALTER TABLE", "CREATE INDEX", "DROP INDEX":
		if len(p.Src) != 1 || len(p.Tables) != 1 {
			return tableRef{}, "", false
		}
	case "CREATE TABLE":
		create = true
	default:
		return tableRef{}, "", false
	}
	src = tableRef{p.Src[0].Schema, p.Src[0].Name}
	r := s.route(src.Schema, src.Name)
	if r.skip || !s.routedByRule(src) {
		return tableRef{}, "", false
	}
	return src, r.dst.Schema + "." + r.dst.Name, create
}

// optView gives a shard table with no view one, as a copy of the base,
// once the target table has one (a shard changed it).
func (s *syncer) optView(ctx context.Context, src, dst tableRef) (string, bool, error) {
	if s.opt == nil {
		return "", false, nil
	}
	shard, ok := s.opt.shard[src]
	if !ok {
		shard = s.routedByRule(src)
		s.opt.shard[src] = shard
	}
	if !shard {
		return "", false, nil
	}
	if gen, ok := s.opt.noBase[dst]; ok && gen == s.tables.gen {
		return "", false, nil
	}
	var n int
	if err := s.target.QueryRowContext(ctx, "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?",
		metaSchema, s.baseName(dst)).Scan(&n); err != nil {
		return "", false, fmt.Errorf("sync %s/%s: look for the base of %s: %w", s.cfg.Task, s.cfg.Source, dst, err)
	}
	if n == 0 {
		s.opt.noBase[dst] = s.tables.gen
		return "", false, nil
	}
	v, err := s.createView(ctx, src, dst)
	return v, err == nil, err
}

// ensureBase copies the target table as the base, unless a copy exists.
func (s *syncer) ensureBase(ctx context.Context, dst tableRef) error {
	if _, err := s.target.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS "+quoteTable(metaSchema, s.baseName(dst))+" LIKE "+dst.String()); err != nil {
		if errno(err) == 1146 {
			return Permanent(fmt.Errorf("sync %s/%s: the merged target table %s does not exist: create it", s.cfg.Task, s.cfg.Source, dst))
		}
		return fmt.Errorf("sync %s/%s: keep the base definition of %s: %w", s.cfg.Task, s.cfg.Source, dst, err)
	}
	return nil
}

// createView makes a shard table's view a copy of the base.
func (s *syncer) createView(ctx context.Context, src, dst tableRef) (string, error) {
	if v, ok := s.views[src]; ok {
		return v, nil
	}
	v := s.viewName(src)
	if _, err := s.target.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS "+quoteTable(metaSchema, v)+" LIKE "+quoteTable(metaSchema, s.baseName(dst))); err != nil {
		return "", fmt.Errorf("sync %s/%s: create the view of shard %s: %w", s.cfg.Task, s.cfg.Source, src, err)
	}
	if _, err := s.target.ExecContext(ctx, `INSERT IGNORE INTO dmplan_meta.schema_view (task, source, src_schema, src_table, view_table) VALUES (?, ?, ?, ?, ?)`,
		s.cfg.Task, s.cfg.Source, src.Schema, src.Name, v); err != nil {
		return "", fmt.Errorf("sync %s/%s: record the view of shard %s: %w", s.cfg.Task, s.cfg.Source, src, err)
	}
	s.views[src] = v
	s.tables.reset()
	return v, nil
}

// createViewAs makes a shard table's view by the shard's own CREATE
// TABLE statement.
func (s *syncer) createViewAs(ctx context.Context, src tableRef, schema, query string, mode uint64, modeKnown bool) error {
	v := s.viewName(src)
	if _, err := s.target.ExecContext(ctx, "DROP TABLE IF EXISTS "+quoteTable(metaSchema, v)); err != nil {
		return fmt.Errorf("sync %s/%s: replace the view of shard %s: %w", s.cfg.Task, s.cfg.Source, src, err)
	}
	vp, err := ddl.PlanStatement(viewResolver{ddlResolver{s}, src, v}, schema, query, mode)
	if err != nil || vp == nil {
		return Permanent(fmt.Errorf("sync %s/%s: the CREATE TABLE of shard %s on its view: %v", s.cfg.Task, s.cfg.Source, src, err))
	}
	vp.Pre = nil
	if err := s.applyDDL(ctx, vp, mode, modeKnown); err != nil {
		return fmt.Errorf("sync %s/%s: the CREATE TABLE of shard %s on its view: %w", s.cfg.Task, s.cfg.Source, src, err)
	}
	if _, err := s.target.ExecContext(ctx, `REPLACE INTO dmplan_meta.schema_view (task, source, src_schema, src_table, view_table) VALUES (?, ?, ?, ?, ?)`,
		s.cfg.Task, s.cfg.Source, src.Schema, src.Name, v); err != nil {
		return fmt.Errorf("sync %s/%s: record the view of shard %s: %w", s.cfg.Task, s.cfg.Source, src, err)
	}
	s.views[src] = v
	s.tables.reset()
	return nil
}

func readDef(ctx context.Context, q querier, t tableRef) (shardjoin.Table, error) {
	var name, create string
	if err := q.QueryRowContext(ctx, "SHOW CREATE TABLE "+t.String()).Scan(&name, &create); err != nil {
		return shardjoin.Table{}, fmt.Errorf("read the definition of %s: %w", t, err)
	}
	return shardjoin.Parse(create)
}

// optimisticStatement runs a DDL of a merged shard table in optimistic
// mode. handled: the statement was this mode's; applied: the checkpoint
// records it done. resume is the resume point before the DDL.
func (s *syncer) optimisticStatement(ctx context.Context, p *ddl.Plan, schema, query string, mode uint64, modeKnown bool, mark workerMark, resume Position) (handled, applied bool, err error) {
	src, target, create := s.optCoordinated(p)
	if target == "" {
		return false, false, nil
	}
	seq := mark.seq()
	if seq.lessEq(s.ddlDone) {
		return true, false, nil // applied before a restart
	}
	if s.windows != nil && s.windows.Decide(src.Schema, src.Name, Position{File: s.file, Pos: mark.Pos}) == eventSkip {
		// The shard's dumped definition has it already, but which shard's
		// definition the loaded target table got is not known.
		return true, false, Permanent(fmt.Errorf("sync %s/%s: a DDL of shard %s ran while the task's dump was taken (at %s:%d): optimistic shard mode cannot place it on the joined schema; "+
			"make the target table %s the join of the shards by hand and restart the task in mode incremental from a position after it, or run no DDL on the shards while they are dumped",
			s.cfg.Task, s.cfg.Source, src, s.file, mark.Pos, target))
	}
	if err := s.flush(ctx); err != nil {
		return true, false, err
	}
	if s.valid != nil {
		s.valid.settle(ctx)
	}
	// The resume point moves to just before the DDL before anything
	// changes: a crash in the steps below reads again from the DDL, not
	// from before rows that no longer fit the shard's altered view. (The
	// steps need no fingerprint: each is idempotent.)
	if err := s.meta.ddlPending(ctx, mark, "", s.capResume(resume)); err != nil {
		return true, false, err
	}
	dst := tableRef(p.Tables[0])
	if create {
		// A shard created while the task runs: the target table is created
		// by the first shard (IF NOT EXISTS); the shard's view is its own
		// definition.
		if err := s.applyDDL(ctx, p, mode, modeKnown); err != nil {
			return true, false, fmt.Errorf("sync %s/%s: CREATE TABLE of shard %s: %w", s.cfg.Task, s.cfg.Source, src, err)
		}
		if err := s.ensureBase(ctx, dst); err != nil {
			return true, false, err
		}
		if err := s.createViewAs(ctx, src, schema, query, mode, modeKnown); err != nil {
			return true, false, err
		}
	} else {
		if err := s.ensureBase(ctx, dst); err != nil {
			return true, false, err
		}
		if _, err := s.createView(ctx, src, dst); err != nil {
			return true, false, err
		}
		if err := s.followView(ctx, p, schema, query, mode, modeKnown, mark); err != nil {
			return true, false, err
		}
	}
	after, err := readDef(ctx, s.target, tableRef{metaSchema, s.views[src]})
	if err != nil {
		return true, false, err
	}
	base, err := readDef(ctx, s.target, tableRef{metaSchema, s.baseName(dst)})
	if err != nil {
		return true, false, err
	}
	tables, err := s.shardTables(ctx, target)
	if err != nil {
		return true, false, err
	}
	stmt := NormalizeDDL(p.Stmt)
	res := s.resolution(target, stmt)
	shard := job.ShardName(s.cfg.Source, src.Schema+"."+src.Name)
	at := fmt.Sprintf("%s:%d", mark.File, mark.Pos)
	now := time.Now().UTC()
	seed, err := s.optSeed(ctx, target, shard)
	if err != nil {
		return true, false, err
	}
	var dec shardjoin.Decision
	var entry job.ShardTable
	var before shardjoin.Table
	rec, err := s.opt.schemas.UpdateSchema(ctx, s.cfg.Task, target, func(r job.ShardSchema, ok bool) (*job.ShardSchema, bool) {
		// Called again after a lost compare-and-set: decide afresh.
		entry, dec, before = job.ShardTable{}, shardjoin.Decision{}, shardjoin.Table{}
		if !ok {
			r = job.ShardSchema{Task: s.cfg.Task, Target: target, Base: base, Since: now, Shards: map[string]job.ShardTable{}}
			for n, t := range seed {
				r.Shards[n] = job.ShardTable{Table: t, Since: now}
			}
		}
		if e, ok := r.Shards[shard]; ok && e.At == at {
			entry, dec = e, shardjoin.Decision{}
			return nil, false // decided before a restart
		}
		if r.Expected == nil {
			r.Expected = map[string][]string{}
		}
		if r.Shards == nil {
			r.Shards = map[string]job.ShardTable{}
		}
		if r.Conflicts == nil {
			r.Conflicts = map[string]job.ShardConflict{}
		}
		r.Sources = append([]string(nil), s.cfg.ShardSources...)
		r.Expected[s.cfg.Source] = tables
		if create {
			dec = shardjoin.DecideNew(after, r.Others(shard))
		} else {
			before = r.Table(shard)
			dec = shardjoin.Decide(before, after, r.Others(shard))
		}
		if dec.Conflict != "" && res == "" {
			if c, ok := r.Conflicts[shard]; ok && c.DDL == stmt && c.Reason == dec.Conflict {
				return nil, false
			}
			r.Conflicts[shard] = job.ShardConflict{DDL: stmt, Reason: dec.Conflict, With: dec.With, Since: now}
			return &r, true
		}
		delete(r.Conflicts, shard)
		entry = job.ShardTable{Table: after, At: at, DDL: stmt, Touched: dec.Touched, Resolved: res, Since: now}
		if res == "skip" {
			entry.Touched = nil
		}
		r.Shards[shard] = entry
		return &r, true
	})
	if err != nil {
		return true, false, fmt.Errorf("sync %s/%s: record the schema of shard %s: %w", s.cfg.Task, s.cfg.Source, shard, err)
	}
	if entry.At != at {
		was := before.String()
		if create {
			was = "(none: a new shard table)"
		}
		return true, false, Permanent(fmt.Errorf("sync %s/%s: shard %s ran a DDL on the merged table %s that conflicts with shard %s (optimistic shard mode): %s\n"+
			"  the DDL:            %s\n  this shard before:  %s\n  this shard after:   %s\n  shard %s: %s\n"+
			"resolve it in spec.shardDDL.resolve (table: %s, ddl: the DDL above, action: skip to keep the target as it is and write this shard's rows by column name, "+
			"or execute to run the DDL on the target as it is), or undo it on the shard and restart the task from a position after it",
			s.cfg.Task, s.cfg.Source, shard, target, dec.With, dec.Conflict, stmt, was, after, dec.With, rec.Table(dec.With), target))
	}
	switch entry.Resolved {
	case "execute":
		s.log.Warn("shard DDL executed on the target by spec.shardDDL.resolve", "table", src, "target", target)
		if err := s.applyDDL(ctx, p, mode, modeKnown); err != nil {
			return true, false, fmt.Errorf("sync %s/%s: %s of %s at %s: %w", s.cfg.Task, s.cfg.Source, p.Kind, target, at, err)
		}
	case "skip":
		s.log.Warn("shard DDL kept off the target by spec.shardDDL.resolve", "table", src, "target", target)
	default:
		cur, err := readDef(ctx, s.target, dst)
		if err != nil {
			return true, false, err
		}
		clauses := shardjoin.Clauses(cur, rec.Joined(), entry.Touched)
		s.log.Info("shard DDL on the joined schema", "table", src, "target", target, "clauses", len(clauses))
		for _, c := range clauses {
			q := &ddl.Plan{Kind: "ALTER TABLE", Stmt: "ALTER TABLE " + dst.String() + " " + c, Tables: p.Tables}
			if err := s.applyDDL(ctx, q, mode, modeKnown); err != nil {
				return true, false, fmt.Errorf("sync %s/%s: bring %s to the joined schema (%s) at %s: %w", s.cfg.Task, s.cfg.Source, target, c, at, err)
			}
		}
	}
	s.tables.reset()
	s.ddlDone, s.pending, s.pendingFP = seq, syncSeq{}, ""
	return true, true, nil
}

// optSeed returns, when etcd has no record of target, the definitions of
// the task's other shard views of it in the target: the record was
// deleted with the task (docs/shard-ddl.md) and the task, created again,
// resumes from the checkpoints and views that stayed. A shard's view is
// its definition; without it the new record would count the shard with
// the base and could narrow the target below what its rows need.
func (s *syncer) optSeed(ctx context.Context, target, self string) (map[string]shardjoin.Table, error) {
	if _, ok, err := s.opt.schemas.Schema(ctx, s.cfg.Task, target); err != nil || ok {
		return nil, err
	}
	rows, err := s.target.QueryContext(ctx, "SELECT source, src_schema, src_table, view_table FROM dmplan_meta.schema_view WHERE task = ?", s.cfg.Task)
	if err != nil {
		return nil, fmt.Errorf("sync %s/%s: read the shard views of %s: %w", s.cfg.Task, s.cfg.Source, target, err)
	}
	type view struct{ shard, table string }
	var views []view
	for rows.Next() {
		var src, db, tb, v string
		if err := rows.Scan(&src, &db, &tb, &v); err != nil {
			rows.Close()
			return nil, fmt.Errorf("sync %s/%s: read the shard views of %s: %w", s.cfg.Task, s.cfg.Source, target, err)
		}
		r := s.route(db, tb)
		if n := job.ShardName(src, db+"."+tb); n != self && !r.skip && r.dst.Schema+"."+r.dst.Name == target && s.routedByRule(tableRef{db, tb}) {
			views = append(views, view{n, v})
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := map[string]shardjoin.Table{}
	for _, v := range views {
		def, err := readDef(ctx, s.target, tableRef{metaSchema, v.table})
		if err != nil {
			if errno(err) == 1146 {
				continue // dropped with its shard
			}
			return nil, fmt.Errorf("sync %s/%s: %w", s.cfg.Task, s.cfg.Source, err)
		}
		out[v.shard] = def
	}
	return out, nil
}
