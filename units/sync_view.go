package units

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/dmplan/dmplan/units/ddl"
)

// Source views. Sync applies row changes with the target table's
// definition (sync_table.go), which equals the source's as long as every
// DDL reaches the target. When spec.filters drops an ALTER TABLE of a
// replicated table, the two part: the binlog's rows then come in a
// definition the target does not have. For such a table sync keeps the
// source's definition as a table of its own in dmplan_meta (its view,
// created LIKE the target table when the first ALTER is dropped), runs
// the dropped ALTER on the view instead of the target, and from then on
// reads the table's rows with the view's columns and writes the columns
// the target has, by name: a column the target lacks is not written, a
// target column the source lacks keeps its value (its default on insert).
//
// Exactly once: a dropped ALTER is a DDL on the view and goes through
// the DDL barrier (sync_ddl.go) like any other: the view's fingerprint,
// the checkpoint's pending record, the ALTER, the done record. An ALTER
// that is not dropped, of a table with a view, runs on the view as well,
// inside the same barrier (after the pending record, before the target's
// ALTER), with the view's own record in dmplan_meta.schema_view: the
// view's fingerprint before it, then the position it has reached, so a
// crash in between is decided by the same rule. DROP TABLE of the source
// table drops its view.

// viewName is the dmplan_meta table holding a source table's view.
func (s *syncer) viewName(src tableRef) string {
	h := sha256.Sum256([]byte(s.cfg.Task + "\x00" + s.cfg.Source + "\x00" + src.Schema + "\x00" + src.Name))
	return "view_" + hex.EncodeToString(h[:10])
}

// loadViews reads which source tables of the subtask have a view.
func (s *syncer) loadViews(ctx context.Context) error {
	rows, err := s.target.QueryContext(ctx, "SELECT src_schema, src_table, view_table FROM dmplan_meta.schema_view WHERE task = ? AND source = ?",
		s.cfg.Task, s.cfg.Source)
	if err != nil {
		return fmt.Errorf("read the source views of %s/%s: %w", s.cfg.Task, s.cfg.Source, err)
	}
	defer rows.Close()
	s.views = map[tableRef]string{}
	for rows.Next() {
		var ref tableRef
		var v string
		if err := rows.Scan(&ref.Schema, &ref.Name, &v); err != nil {
			return fmt.Errorf("read the source views of %s/%s: %w", s.cfg.Task, s.cfg.Source, err)
		}
		s.views[ref] = v
	}
	return rows.Err()
}

// viewResolver routes one source table to its view.
type viewResolver struct {
	ddlResolver
	src  tableRef
	view string
}

func (r viewResolver) Route(schema, table string) ddl.Route {
	if (tableRef{r.s.storedName(schema), r.s.storedName(table)}) == r.src {
		return ddl.Route{To: ddl.Table{Schema: metaSchema, Name: r.view}}
	}
	return r.ddlResolver.Route(schema, table)
}

// droppedDDL handles a statement spec.filters dropped: an ALTER TABLE of
// one table becomes the same ALTER of its view (returned, for the
// barrier); a DROP TABLE drops the views of the tables it names. nil:
// nothing more to do.
func (s *syncer) droppedDDL(ctx context.Context, p *ddl.Plan, schema, query string, mode uint64) (*ddl.Plan, error) {
	switch p.Kind {
	case "DROP TABLE":
		return nil, s.dropViews(ctx, p)
	case "ALTER TABLE":
	default:
		return nil, nil
	}
	if len(p.Src) != 1 || len(p.Tables) != 1 {
		return nil, Permanent(fmt.Errorf("sync %s/%s: spec.filters drop an ALTER TABLE that renames %v at %s: dmplan cannot follow the source's definition through it; "+
			"let the filter pass it, or rename the table on the target by hand and start the subtask after it", s.cfg.Task, s.cfg.Source, p.Src, s.file))
	}
	src := tableRef(p.Src[0])
	dst := tableRef(p.Tables[0])
	v, ok := s.views[src]
	if !ok {
		v = s.viewName(src)
		if _, err := s.target.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS "+quoteTable(metaSchema, v)+" LIKE "+dst.String()); err != nil {
			if n := errno(err); n == 1146 {
				return nil, Permanent(fmt.Errorf("sync %s/%s: keep the definition of %s after a dropped ALTER: the target table %s does not exist", s.cfg.Task, s.cfg.Source, src, dst))
			}
			return nil, fmt.Errorf("create the source view of %s: %w", src, err)
		}
		if _, err := s.target.ExecContext(ctx, `INSERT IGNORE INTO dmplan_meta.schema_view (task, source, src_schema, src_table, view_table) VALUES (?, ?, ?, ?, ?)`,
			s.cfg.Task, s.cfg.Source, src.Schema, src.Name, v); err != nil {
			return nil, fmt.Errorf("record the source view of %s: %w", src, err)
		}
		s.views[src] = v
	}
	vp, err := ddl.PlanStatement(viewResolver{ddlResolver{s}, src, v}, schema, query, mode)
	if err != nil || vp == nil {
		return nil, Permanent(fmt.Errorf("sync %s/%s: the dropped ALTER TABLE of %s on its view: %v", s.cfg.Task, s.cfg.Source, src, err))
	}
	vp.Pre = nil // dmplan_meta exists
	s.log.Info("ALTER TABLE dropped by spec.filters: applied to the source view only", "table", src.String(), "view", v, "binlog", s.file)
	return vp, nil
}

// dropViews drops the views of the source tables a DROP TABLE names.
func (s *syncer) dropViews(ctx context.Context, p *ddl.Plan) error {
	for _, t := range p.Src {
		src := tableRef(t)
		v, ok := s.views[src]
		if !ok {
			continue
		}
		if _, err := s.target.ExecContext(ctx, "DROP TABLE IF EXISTS "+quoteTable(metaSchema, v)); err != nil {
			return fmt.Errorf("drop the source view of %s: %w", src, err)
		}
		if _, err := s.target.ExecContext(ctx, "DELETE FROM dmplan_meta.schema_view WHERE task = ? AND source = ? AND src_schema = ? AND src_table = ?",
			s.cfg.Task, s.cfg.Source, src.Schema, src.Name); err != nil {
			return fmt.Errorf("drop the source view of %s: %w", src, err)
		}
		delete(s.views, src)
	}
	return nil
}

// followView runs a DDL that reaches the target on the view of its source
// table too (called inside the barrier, after the pending record).
func (s *syncer) followView(ctx context.Context, p *ddl.Plan, schema, query string, mode uint64, modeKnown bool, mark workerMark) error {
	if len(s.views) == 0 || len(p.Src) == 0 {
		return nil
	}
	switch p.Kind {
	case "DROP TABLE":
		return s.dropViews(ctx, p)
	case "RENAME TABLE":
		for _, t := range p.Src {
			if _, ok := s.views[tableRef(t)]; ok {
				return Permanent(fmt.Errorf("sync %s/%s: RENAME of %s, whose ALTERs spec.filters dropped before, at %s:%d: dmplan cannot carry its source view over; "+
					"make the target table equal to the source's and copy it again (take it out of spec.tables and in again, in mode all)", s.cfg.Task, s.cfg.Source, t, s.file, mark.Pos))
			}
		}
		return nil
	case "ALTER TABLE", "CREATE INDEX", "DROP INDEX":
	default:
		return nil
	}
	src := tableRef(p.Src[0])
	v, ok := s.views[src]
	if !ok {
		return nil
	}
	var done, pending workerMark
	var pendingFP string
	if err := s.target.QueryRowContext(ctx, `SELECT ddl_file, ddl_pos, pending_file, pending_pos, pending_fp FROM dmplan_meta.schema_view
		WHERE task = ? AND source = ? AND src_schema = ? AND src_table = ?`, s.cfg.Task, s.cfg.Source, src.Schema, src.Name).
		Scan(&done.File, &done.Pos, &pending.File, &pending.Pos, &pendingFP); err != nil {
		return fmt.Errorf("read the source view of %s: %w", src, err)
	}
	if done.File != "" && mark.seq().lessEq(done.seq()) {
		return nil
	}
	vp, err := ddl.PlanStatement(viewResolver{ddlResolver{s}, src, v}, schema, query, mode)
	if err != nil || vp == nil {
		return Permanent(fmt.Errorf("sync %s/%s: ALTER TABLE of %s on its source view: %v", s.cfg.Task, s.cfg.Source, src, err))
	}
	vp.Pre = nil
	fp, err := fingerprint(ctx, s.target, vp)
	if err != nil {
		return err
	}
	if !(pending == mark && pendingFP != "" && fp != pendingFP) {
		if err := s.viewRecord(ctx, src, "pending_file = ?, pending_pos = ?, pending_fp = ?", mark.File, mark.Pos, fp); err != nil {
			return err
		}
		if err := s.applyDDL(ctx, vp, mode, modeKnown); err != nil {
			return fmt.Errorf("sync %s/%s: ALTER TABLE of %s on its source view: %w", s.cfg.Task, s.cfg.Source, src, err)
		}
	}
	return s.viewRecord(ctx, src, "ddl_file = ?, ddl_pos = ?, pending_file = '', pending_pos = 0, pending_fp = ''", mark.File, mark.Pos)
}

func (s *syncer) viewRecord(ctx context.Context, src tableRef, set string, args ...any) error {
	args = append(args, s.cfg.Task, s.cfg.Source, src.Schema, src.Name)
	if _, err := s.target.ExecContext(ctx, "UPDATE dmplan_meta.schema_view SET "+set+" WHERE task = ? AND source = ? AND src_schema = ? AND src_table = ?", args...); err != nil {
		return fmt.Errorf("record the source view of %s: %w", src, err)
	}
	return nil
}

// viewed returns, for a source table with a view, the view's table (the
// source's definition) and the target table as its rows are written: only
// the columns the view has too, found by name.
func (s *syncer) viewed(ctx context.Context, src tableRef, t *syncTable) (view, write *syncTable, err error) {
	v, ok := s.views[src]
	if !ok {
		if v, ok, err = s.optView(ctx, src, t.dst); !ok || err != nil { // shard_optimistic.go
			return nil, t, err
		}
	}
	if view, err = s.tables.get(ctx, s.target, tableRef{metaSchema, v}); err != nil {
		return nil, nil, err
	}
	return view, s.tables.projected(t, view), nil
}

// projected is t writing only the columns view has (by name, ignoring
// case as MySQL does); proj[i] is the view column of t's column i, or -1.
func (c *tableCache) projected(t, view *syncTable) *syncTable {
	k := [2]*syncTable{t, view}
	if p, ok := c.proj[k]; ok {
		return p
	}
	p := *t
	p.proj = make([]int, len(t.cols))
	byName := map[string]int{}
	for i, col := range view.cols {
		byName[strings.ToLower(col.name)] = i
	}
	present := func(i int) bool { return p.proj[i] >= 0 }
	for i, col := range t.cols {
		j, ok := byName[strings.ToLower(col.name)]
		if !ok {
			j = -1
		}
		p.proj[i] = j
	}
	p.writable = nil
	for _, i := range t.writable {
		if present(i) {
			p.writable = append(p.writable, i)
		}
	}
	all := func(idx []int) bool {
		for _, i := range idx {
			if !present(i) {
				return false
			}
		}
		return true
	}
	p.uniques, p.key, p.keyIdx = nil, nil, -1
	for i, u := range t.uniques {
		if all(u) {
			p.uniques = append(p.uniques, u)
			if i == t.keyIdx {
				p.key, p.keyIdx = u, len(p.uniques)-1
			}
		}
	}
	p.setHeads()
	if c.proj == nil {
		c.proj = map[[2]*syncTable]*syncTable{}
	}
	c.proj[k] = &p
	return &p
}

// project turns a row read with the view's columns into t's layout.
func project(t *syncTable, row []any) []any {
	if row == nil {
		return nil
	}
	out := make([]any, len(t.proj))
	for i, j := range t.proj {
		if j >= 0 {
			out[i] = row[j]
		}
	}
	return out
}
