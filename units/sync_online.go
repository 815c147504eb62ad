package units

import (
	"context"
	"fmt"

	"github.com/dmplan/dmplan/internal/onlineddl"
	"github.com/dmplan/dmplan/units/ddl"
)

// Online schema changes (spec.onlineDDL, internal/onlineddl). gh-ost and
// pt-online-schema-change change a table T by creating a shadow table
// (_T_gho, _T_new), ALTERing it, filling it from T while T keeps being
// written, and swapping it in with one RENAME TABLE T TO _T_old/_T_del,
// _T_new/_T_gho TO T. With onlineDDL on, sync:
//
//   - skips every row change of shadow and trash tables (route: skip), so
//     the target never holds the half-copied shadow;
//   - at the shadow's CREATE, records it in dmplan_meta.online_ddl (stmt
//     ''), and at each ALTER, CREATE INDEX or DROP INDEX of the shadow,
//     records the statement routed to T's target table, keyed by its
//     binlog position (INSERT IGNORE: reading it again after a restart
//     records nothing twice);
//   - at the swap, applies the recorded statements, in binlog order, to
//     T's target table, as DDL barriers of their own: every worker commits
//     first; before each statement the target table's fingerprint is kept
//     in its row, then it runs, then the row is marked applied. A crash in
//     between is decided as the DDL barrier decides (sync_ddl.go): a
//     fingerprint that changed means the statement ran. Then the checkpoint
//     records the RENAME done, as any DDL.
//
// The swap itself is not run on the target: the target's T simply gets
// the ALTER at the position where the source's T got its new definition,
// and the rows after it come in that definition. A swap whose shadow was
// never seen (the change began before the subtask's start position) stops
// the subtask: what the tool changed is unknown.

// onlineTable says what a table name is to spec.onlineDDL.
func (s *syncer) onlineTable(table string) (onlineddl.Kind, string) {
	return s.online.Classify(s.storedName(table))
}

// nameRecorder is a ddl.Resolver that replicates every table as it is
// and records the names the planner asks about, in order.
type nameRecorder struct {
	s     *syncer
	names []ddl.Table
}

func (r *nameRecorder) Route(schema, table string) ddl.Route {
	r.names = append(r.names, ddl.Table{Schema: schema, Name: table})
	return ddl.Route{To: ddl.Table{Schema: schema, Name: table}}
}
func (r *nameRecorder) Replicates(string) bool        { return true }
func (r *nameRecorder) StoredName(name string) string { return r.s.storedName(name) }

// shadowResolver routes a shadow table where its real table goes.
type shadowResolver struct{ ddlResolver }

func (r shadowResolver) Route(schema, table string) ddl.Route {
	if k, real := r.s.onlineTable(table); k == onlineddl.Shadow {
		return r.ddlResolver.Route(schema, real)
	}
	return r.ddlResolver.Route(schema, table)
}

// onlineStatement handles a statement about shadow or trash tables.
// handled is false when the statement is none of those (the caller plans
// it as usual); applied is true when it was a swap whose recorded
// statements ran, so the checkpoint must record it done.
func (s *syncer) onlineStatement(ctx context.Context, schema, query string, mode uint64, modeKnown bool, mark workerMark) (handled, applied bool, err error) {
	if s.online == nil {
		return false, false, nil
	}
	rec := &nameRecorder{s: s}
	p, err := ddl.PlanStatement(rec, schema, query, mode)
	if err != nil || p == nil || len(rec.names) == 0 {
		return false, false, nil
	}
	kinds := make([]onlineddl.Kind, len(rec.names))
	reals := make([]string, len(rec.names))
	tool := false
	for i, n := range rec.names {
		kinds[i], reals[i] = s.onlineTable(n.Name)
		tool = tool || kinds[i] != onlineddl.Real
	}
	if !tool {
		return false, false, nil
	}
	if p.Kind != "RENAME TABLE" && kinds[0] == onlineddl.Real {
		return false, false, nil // about a real table (CREATE TABLE t LIKE _t_gho, say): the planner decides
	}
	first := rec.names[0]
	where := fmt.Sprintf("%s:%d", s.file, mark.Pos)
	switch p.Kind {
	case "CREATE TABLE":
		if kinds[0] == onlineddl.Shadow && !s.route(first.Schema, reals[0]).skip {
			return true, false, s.meta.onlineBegin(ctx, first.Schema, first.Name, mark)
		}
		return true, false, nil
	case "ALTER TABLE", "CREATE INDEX", "DROP INDEX":
		if kinds[0] != onlineddl.Shadow || s.route(first.Schema, reals[0]).skip {
			return true, false, nil
		}
		rp, err := ddl.PlanStatement(shadowResolver{ddlResolver{s}}, schema, query, mode)
		if err != nil {
			return true, false, Permanent(fmt.Errorf("sync %s/%s: %s of shadow table %s at %s: %w", s.cfg.Task, s.cfg.Source, p.Kind, quoteTable(first.Schema, first.Name), where, err))
		}
		if rp == nil {
			return true, false, nil
		}
		if len(rp.Pre) > 0 || len(rp.Tables) != 1 {
			return true, false, Permanent(fmt.Errorf("sync %s/%s: %s of shadow table %s at %s touches other tables too; dmplan replays one table's ALTERs at the swap: "+
				"set spec.onlineDDL to false and replicate the tool's tables as they are, or run the change without an online schema change tool",
				s.cfg.Task, s.cfg.Source, p.Kind, quoteTable(first.Schema, first.Name), where))
		}
		s.log.Info("online schema change: ALTER of a shadow table recorded for the swap", "shadow", first.Name, "table", rp.Tables[0].String(), "binlog", s.file, "pos", mark.Pos)
		return true, false, s.meta.onlineRecord(ctx, first.Schema, first.Name, mark, rp.Stmt, rp.UseDB)
	case "RENAME TABLE":
		return s.onlineSwap(ctx, rec.names, kinds, reals, mode, modeKnown, mark)
	case "DROP TABLE", "TRUNCATE TABLE":
		for _, k := range kinds {
			if k == onlineddl.Real {
				return false, false, nil // the planner leaves the tool's tables out (route: skip)
			}
		}
		return true, false, nil
	}
	return true, false, nil // other statements about the tool's tables only
}

// onlineSwap handles RENAME TABLE pairs of an online schema change: each
// pair is T -> a trash table of T, or a shadow of T -> T. Pairs of other
// shapes leave the statement to the planner.
func (s *syncer) onlineSwap(ctx context.Context, names []ddl.Table, kinds []onlineddl.Kind, reals []string, mode uint64, modeKnown bool, mark workerMark) (handled, applied bool, err error) {
	if len(names)%2 != 0 {
		return false, false, nil
	}
	type swap struct{ schema, shadow, real string }
	var swaps []swap
	for i := 0; i < len(names); i += 2 {
		from, to := names[i], names[i+1]
		fk, tk := kinds[i], kinds[i+1]
		switch {
		case fk == onlineddl.Shadow && tk == onlineddl.Real && from.Schema == to.Schema && s.storedName(to.Name) == reals[i]:
			swaps = append(swaps, swap{from.Schema, from.Name, to.Name})
		case fk == onlineddl.Real && tk == onlineddl.Trash && from.Schema == to.Schema && reals[i+1] == s.storedName(from.Name):
		case fk != onlineddl.Real && tk != onlineddl.Real:
		default:
			return false, false, nil
		}
	}
	seq := mark.seq()
	if seq.lessEq(s.ddlDone) {
		return true, false, nil // applied before a restart
	}
	for _, sw := range swaps {
		if s.route(sw.schema, sw.real).skip {
			continue
		}
		if err := s.flush(ctx); err != nil {
			return true, false, err
		}
		if err := s.onlineApply(ctx, sw.schema, sw.shadow, sw.real, mode, modeKnown, mark); err != nil {
			return true, false, err
		}
		applied = true
	}
	if applied {
		s.tables.reset()
		s.ddlDone, s.pending, s.pendingFP = seq, syncSeq{}, ""
	}
	return true, applied, nil
}

// onlineApply runs the statements recorded for a shadow table on its real
// table's target, each once.
func (s *syncer) onlineApply(ctx context.Context, schema, shadow, real string, mode uint64, modeKnown bool, mark workerMark) error {
	dst := s.route(schema, real).dst
	rows, seen, err := s.meta.onlineRows(ctx, schema, shadow)
	if err != nil {
		return err
	}
	if !seen {
		return Permanent(fmt.Errorf("sync %s/%s: online schema change of %s swapped in at %s:%d, but its shadow table %s was created before this subtask's start position: "+
			"dmplan cannot know what it changed; make the target table %s equal to the source's by hand and start the subtask again from a position after the swap, "+
			"or copy the table again (take it out of spec.tables and in again, in mode all)",
			s.cfg.Task, s.cfg.Source, quoteTable(schema, real), s.file, mark.Pos, quoteTable(schema, shadow), dst))
	}
	for _, r := range rows {
		if r.applied {
			continue
		}
		plan := &ddl.Plan{Kind: "ALTER TABLE", Stmt: r.stmt, UseDB: r.useDB, Tables: []ddl.Table{ddl.Table(dst)},
			Src: []ddl.Table{{Schema: schema, Name: real}}}
		if skip, err := s.filterStatement(plan, r.stmt, mark.Pos); err != nil {
			return err
		} else if skip {
			if err := s.meta.onlineMark(ctx, schema, shadow, r.pos, "", true); err != nil {
				return err
			}
			continue
		}
		fp, err := fingerprint(ctx, s.target, plan)
		if err != nil {
			return err
		}
		if r.pendingFP != "" && fp != r.pendingFP {
			s.log.Info("online schema change: recorded ALTER found applied before a restart", "table", dst.String(), "binlog", r.pos.File, "pos", r.pos.Pos)
		} else {
			if err := s.meta.onlineMark(ctx, schema, shadow, r.pos, fp, false); err != nil {
				return err
			}
			s.log.Info("online schema change: applying the shadow table's ALTER at the swap", "table", dst.String(), "shadow", shadow, "binlog", s.file, "pos", mark.Pos)
			if err := s.applyDDL(ctx, plan, mode, modeKnown); err != nil {
				return fmt.Errorf("sync %s/%s: online schema change of %s at %s:%d: %w", s.cfg.Task, s.cfg.Source, dst, s.file, mark.Pos, err)
			}
		}
		if err := s.meta.onlineMark(ctx, schema, shadow, r.pos, fp, true); err != nil {
			return err
		}
	}
	return nil
}

// onlineRow is one recorded statement of dmplan_meta.online_ddl.
type onlineRow struct {
	pos       workerMark
	stmt      string
	useDB     string
	pendingFP string
	applied   bool
}

// onlineBegin records a shadow table's CREATE, forgetting what was
// recorded for the same name before it (an earlier change's).
func (m *syncMeta) onlineBegin(ctx context.Context, schema, shadow string, at workerMark) error {
	if _, err := m.db.ExecContext(ctx, `DELETE FROM dmplan_meta.online_ddl WHERE task = ? AND source = ? AND src_schema = ? AND shadow = ?
		AND (binlog_file < ? OR binlog_file = ? AND binlog_pos < ?)`, m.task, m.source, schema, shadow, at.File, at.File, at.Pos); err != nil {
		return fmt.Errorf("record the online schema change of %s: %w", quoteTable(schema, shadow), err)
	}
	return m.onlineRecord(ctx, schema, shadow, at, "", "")
}

// onlineRecord records a statement of a shadow table (idempotent).
func (m *syncMeta) onlineRecord(ctx context.Context, schema, shadow string, at workerMark, stmt, useDB string) error {
	if _, err := m.db.ExecContext(ctx, `INSERT IGNORE INTO dmplan_meta.online_ddl (task, source, src_schema, shadow, binlog_file, binlog_pos, stmt, use_db)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, m.task, m.source, schema, shadow, at.File, at.Pos, stmt, useDB); err != nil {
		return fmt.Errorf("record a statement of the shadow table %s: %w", quoteTable(schema, shadow), err)
	}
	return nil
}

// onlineRows returns the statements recorded for a shadow table in
// binlog order; seen is false when not even its CREATE was recorded.
func (m *syncMeta) onlineRows(ctx context.Context, schema, shadow string) (out []onlineRow, seen bool, err error) {
	rows, err := m.db.QueryContext(ctx, `SELECT binlog_file, binlog_pos, stmt, use_db, pending_fp, applied FROM dmplan_meta.online_ddl
		WHERE task = ? AND source = ? AND src_schema = ? AND shadow = ? ORDER BY binlog_file, binlog_pos`, m.task, m.source, schema, shadow)
	if err != nil {
		return nil, false, fmt.Errorf("read the online schema change of %s: %w", quoteTable(schema, shadow), err)
	}
	defer rows.Close()
	for rows.Next() {
		var r onlineRow
		if err := rows.Scan(&r.pos.File, &r.pos.Pos, &r.stmt, &r.useDB, &r.pendingFP, &r.applied); err != nil {
			return nil, false, fmt.Errorf("read the online schema change of %s: %w", quoteTable(schema, shadow), err)
		}
		seen = true
		if r.stmt != "" {
			out = append(out, r)
		}
	}
	return out, seen, rows.Err()
}

// onlineMark keeps the fingerprint taken before a recorded statement runs
// (applied false) or marks it applied.
func (m *syncMeta) onlineMark(ctx context.Context, schema, shadow string, at workerMark, fp string, applied bool) error {
	var err error
	if applied {
		_, err = m.db.ExecContext(ctx, `UPDATE dmplan_meta.online_ddl SET applied = 1 WHERE task = ? AND source = ? AND src_schema = ? AND shadow = ?
			AND binlog_file = ? AND binlog_pos = ?`, m.task, m.source, schema, shadow, at.File, at.Pos)
	} else {
		_, err = m.db.ExecContext(ctx, `UPDATE dmplan_meta.online_ddl SET pending_fp = ? WHERE task = ? AND source = ? AND src_schema = ? AND shadow = ?
			AND binlog_file = ? AND binlog_pos = ?`, fp, m.task, m.source, schema, shadow, at.File, at.Pos)
	}
	if err != nil {
		return fmt.Errorf("record the online schema change of %s: %w", quoteTable(schema, shadow), err)
	}
	return nil
}
