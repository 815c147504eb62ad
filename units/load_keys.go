package units

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/dmplan/dmplan/internal/retry"
	"github.com/go-sql-driver/mysql"
)

// Secondary keys after the load (docs/units.md, "Keys after the load"). A
// target table that the load creates gets its plain secondary keys (KEY,
// not UNIQUE, FULLTEXT or SPATIAL) once its rows are in, with one ALTER
// TABLE that builds each from sorted entries, as myloader's
// --innodb-optimize-keys does: inserting rows in primary-key order into
// an index on other columns writes all over it, and with a redo log small
// beside the copy InnoDB flushes the same index pages again and again.
//
// The keys are recorded in dmplan_meta.load_deferred_keys before the
// stripped table is created, and the row is deleted once they exist, so a
// crash at any point leaves them recorded; load_done is written only when
// no row of the subtask is left. Unique keys stay: a resumed load's
// REPLACE and merged shards rely on them.

// splitDeferrableKeys takes the plain secondary keys out of a SHOW CREATE
// TABLE statement: it returns the statement without them and their
// definitions ("KEY `k` (`c`)"), or ddl and nil when none may wait. Keys
// wait only in InnoDB tables without foreign keys and without system
// versioning; a key whose first column is autoInc (the AUTO_INCREMENT
// column, which InnoDB requires to lead some key) stays.
func splitDeferrableKeys(ddl, autoInc string) (string, []string) {
	if !strings.Contains(ddl, "\n  KEY `") || strings.Contains(ddl, " FOREIGN KEY (") ||
		strings.Contains(ddl, "WITH SYSTEM VERSIONING") {
		return ddl, nil
	}
	c, ok := splitCreate(ddl)
	if !ok || !strings.Contains(strings.Join(c.tail, "\n"), "ENGINE=InnoDB") {
		return ddl, nil
	}
	var defs, keys []string
	for _, l := range c.defs {
		first, ok := plainKeyFirstColumn(l)
		if !ok || (autoInc != "" && first == autoInc) {
			defs = append(defs, l)
			continue
		}
		keys = append(keys, strings.TrimSpace(l))
	}
	if len(keys) == 0 || len(defs) == 0 {
		return ddl, nil
	}
	c.defs = defs
	return c.String(), keys
}

// plainKeyFirstColumn reads a SHOW CREATE TABLE line "  KEY `name` (`col`...":
// the first column's name, and whether the line is such a key.
func plainKeyFirstColumn(l string) (string, bool) {
	rest, ok := strings.CutPrefix(l, "  KEY ")
	if !ok {
		return "", false
	}
	e := quotedIdentEnd(rest)
	if e < 0 {
		return "", false
	}
	rest, ok = strings.CutPrefix(rest[e:], " (")
	if !ok {
		return "", false
	}
	e = quotedIdentEnd(rest)
	if e < 0 {
		return "", false
	}
	return unquoteIdent(rest[:e]), true
}

// keyDefName is the name of a key definition "KEY `name` (...)".
func keyDefName(def string) string {
	rest := strings.TrimPrefix(def, "KEY ")
	if e := quotedIdentEnd(rest); e > 0 {
		return unquoteIdent(rest[:e])
	}
	return ""
}

// canDeferKeys reports whether the target user may add keys to tables of
// schema later (ALTER and INDEX, read from its grants; held through a
// role, they are not seen, and the keys are then created with the table).
func canDeferKeys(g *grants, schema string) bool {
	if g == nil {
		return false
	}
	for _, p := range []string{"ALTER", "INDEX"} {
		if !g.global(p) && !g.has(schema, p) {
			return false
		}
	}
	return true
}

// keyDeferral decides which target tables the load creates without their
// plain secondary keys, to add them once the rows are in.
type keyDeferral struct {
	cfg     Config
	grants  *grants           // the target user's; nil: unknown, nothing deferred
	parents map[tableRef]bool // source tables that foreign keys reference
}

// load reads the target user's grants and the foreign key parents among
// the jobs' schemas.
func (kd *keyDeferral) load(ctx context.Context, src querier, target *sql.DB, jobs []*tableJob) error {
	var schemas []string
	for _, j := range jobs {
		if !slices.Contains(schemas, j.src.Schema) {
			schemas = append(schemas, j.src.Schema)
		}
	}
	p, err := fkParents(ctx, src, schemas)
	if err != nil {
		return err
	}
	kd.parents = p
	if g, err := readGrants(ctx, target); err == nil {
		kd.grants = g
	}
	return nil
}

// allowed reports whether the source table's target may get its keys
// after the load.
func (kd *keyDeferral) allowed(src, dst tableRef) bool {
	return !kd.parents[src] && canDeferKeys(kd.grants, dst.Schema)
}

// fkParents lists the source tables in schemas that a foreign key of a
// table in schemas references: their keys may serve the reference, so
// they are created with the table.
func fkParents(ctx context.Context, src querier, schemas []string) (map[tableRef]bool, error) {
	out := map[tableRef]bool{}
	if len(schemas) == 0 {
		return out, nil
	}
	q := `SELECT DISTINCT REFERENCED_TABLE_SCHEMA, REFERENCED_TABLE_NAME FROM information_schema.KEY_COLUMN_USAGE
		WHERE REFERENCED_TABLE_NAME IS NOT NULL AND TABLE_SCHEMA IN (?` + strings.Repeat(",?", len(schemas)-1) + ")"
	args := make([]any, len(schemas))
	for i, s := range schemas {
		args[i] = s
	}
	rows, err := src.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("read foreign key parents: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var t tableRef
		if err := rows.Scan(&t.Schema, &t.Name); err != nil {
			return nil, fmt.Errorf("read foreign key parents: %w", err)
		}
		out[t] = true
	}
	return out, rows.Err()
}

// recordDeferredKeys writes the keys each target table will get after its
// load, in one transaction, before the tables are created.
func recordDeferredKeys(ctx context.Context, target *sql.DB, cfg Config, keys map[tableRef][]string) error {
	if len(keys) == 0 {
		return nil
	}
	tx, err := target.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("record keys to add after the load: %w", err)
	}
	defer tx.Rollback()
	// One statement per registerBatch tables, not one per table.
	dsts := slices.SortedFunc(maps.Keys(keys), func(a, b tableRef) int { return strings.Compare(a.String(), b.String()) })
	for batch := range slices.Chunk(dsts, registerBatch) {
		args := make([]any, 0, 5*len(batch))
		for _, dst := range batch {
			b, _ := json.Marshal(keys[dst])
			args = append(args, cfg.Task, cfg.Source, dst.Schema, dst.Name, string(b))
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO dmplan_meta.load_deferred_keys (task, source, dst_schema, dst_table, key_defs)
			VALUES `+strings.Repeat(", (?, ?, ?, ?, ?)", len(batch))[2:]+` ON DUPLICATE KEY UPDATE key_defs = VALUES(key_defs)`,
			args...); err != nil {
			return fmt.Errorf("record keys of %d tables from %s to add after the load: %w", len(batch), batch[0], err)
		}
	}
	if err := commit(ctx, tx); err != nil {
		return fmt.Errorf("record keys to add after the load: %w", err)
	}
	return nil
}

// readDeferredKeys reads the keys still to add to the subtask's target tables.
func readDeferredKeys(ctx context.Context, target querier, cfg Config) (map[tableRef][]string, error) {
	rows, err := target.QueryContext(ctx, `SELECT dst_schema, dst_table, key_defs FROM dmplan_meta.load_deferred_keys
		WHERE task = ? AND source = ?`, cfg.Task, cfg.Source)
	if err != nil {
		return nil, fmt.Errorf("read keys to add after the load: %w", err)
	}
	defer rows.Close()
	out := map[tableRef][]string{}
	for rows.Next() {
		var t tableRef
		var defs string
		if err := rows.Scan(&t.Schema, &t.Name, &defs); err != nil {
			return nil, fmt.Errorf("read keys to add after the load: %w", err)
		}
		var k []string
		if err := json.Unmarshal([]byte(defs), &k); err != nil {
			return nil, Permanent(fmt.Errorf("read keys to add to %s after the load: %w", t, err))
		}
		out[t] = k
	}
	return out, rows.Err()
}

// addDeferredKeys adds to dst the recorded keys it does not have yet, in
// one ALTER TABLE, then forgets them; transient errors are retried. A
// table that is gone is forgotten.
func (d *dumper) addDeferredKeys(ctx context.Context, dst tableRef, keys []string) error {
	if d.opts.beforeKeys != nil {
		d.opts.beforeKeys(dst)
	}
	b := retry.New(200*time.Millisecond, 10*time.Second)
	for try := 1; ; try++ {
		t0 := time.Now()
		added, err := addKeysOnce(ctx, d.target, dst, keys)
		if err == nil {
			_, err = d.target.ExecContext(ctx, `DELETE FROM dmplan_meta.load_deferred_keys WHERE task = ? AND source = ? AND dst_schema = ? AND dst_table = ?`,
				d.cfg.Task, d.cfg.Source, dst.Schema, dst.Name)
			if err == nil {
				d.log.Debug("keys added after the load", "table", dst.String(), "keys", added, "took", time.Since(t0))
				return nil
			}
			err = fmt.Errorf("forget the keys added to %s: %w", dst, err)
		}
		if !isTransient(err) || try >= d.opts.LoadRetries || ctx.Err() != nil {
			return err
		}
		d.transient(err)
		if err := retry.Sleep(ctx, b.NextBackOff()); err != nil {
			return err
		}
	}
}

func addKeysOnce(ctx context.Context, target *sql.DB, dst tableRef, keys []string) (int, error) {
	conn, err := targetDDLConn(ctx, target)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	for again := false; ; again = true {
		add, err := missingKeys(ctx, conn, dst, keys)
		if err != nil || len(add) == 0 {
			return 0, err
		}
		_, err = conn.ExecContext(ctx, "ALTER TABLE "+dst.String()+" "+strings.Join(add, ", "))
		if err == nil {
			return len(add), nil
		}
		var me *mysql.MySQLError
		if errors.As(err, &me) && me.Number == 1061 && !again { // duplicate key name: another run added one meanwhile
			continue
		}
		if isTransient(err) {
			return 0, fmt.Errorf("add keys to %s: %w", dst, err)
		}
		return 0, Permanent(fmt.Errorf("add keys %s to %s after its load: %w: add them by hand, then DELETE FROM dmplan_meta.load_deferred_keys "+
			"WHERE dst_schema = '%s' AND dst_table = '%s', and resume", strings.Join(keys, ", "), dst, err, dst.Schema, dst.Name))
	}
}

// missingKeys lists "ADD <key>" for each of keys that dst lacks (none
// when dst is gone).
func missingKeys(ctx context.Context, target querier, dst tableRef, keys []string) ([]string, error) {
	var n int
	if err := target.QueryRowContext(ctx, `SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?`,
		dst.Schema, dst.Name).Scan(&n); err != nil {
		return nil, fmt.Errorf("add keys to %s: %w", dst, err)
	}
	if n == 0 {
		return nil, nil
	}
	rows, err := target.QueryContext(ctx, `SELECT DISTINCT INDEX_NAME FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?`,
		dst.Schema, dst.Name)
	if err != nil {
		return nil, fmt.Errorf("add keys to %s: %w", dst, err)
	}
	var have []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			rows.Close()
			return nil, fmt.Errorf("add keys to %s: %w", dst, err)
		}
		have = append(have, strings.ToLower(name))
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("add keys to %s: %w", dst, err)
	}
	var add []string
	for _, k := range keys {
		if !slices.Contains(have, strings.ToLower(keyDefName(k))) {
			add = append(add, "ADD "+k)
		}
	}
	return add, nil
}
