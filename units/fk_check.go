package units

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"

	"github.com/dmplan/dmplan/internal/tablefilter"
)

// CascadeReport is what the foreign-key check found for one subtask: the
// cascading foreign keys of its selected source tables, the child tables
// whose cascades the task accepts losing, and the keys the target cannot
// reproduce.
type CascadeReport struct {
	Keys     int      // cascading foreign keys checked: child table selected, not accepted
	Accepted []string // child tables (`db`.`table`) matched by AcceptLostCascades, sorted
	// Problems are the keys the target cannot reproduce, each ending with
	// what to do; a subtask with any stops (precheck, and sync's start).
	Problems []string
}

// CheckCascades runs the precheck's foreign-key check, which only reads:
// `plan --refresh` shows its result. A mode full task has no cascades to
// reproduce (nothing replays the parent's changes): the report is empty.
func CheckCascades(ctx context.Context, src, dst *sql.DB, cfg Config) (CascadeReport, error) {
	if cfg.Mode == ModeFull {
		return CascadeReport{}, nil
	}
	return cascadeReport(ctx, src, dst, cfg)
}

// checkCascades lists the cascading foreign keys of the selected source
// tables that the target cannot reproduce (fk.go), each line ending with
// what to do. A target table that does not exist yet is taken to be
// created by the load, with its keys.
func checkCascades(ctx context.Context, src, dst querier, cfg Config) ([]string, error) {
	r, err := cascadeReport(ctx, src, dst, cfg)
	return r.Problems, err
}

func cascadeReport(ctx context.Context, src, dst querier, cfg Config) (CascadeReport, error) {
	var r CascadeReport
	lctn, err := readLowerCaseTableNames(ctx, src)
	if err != nil {
		return r, fmt.Errorf("source: %w", err)
	}
	filter, router, accept, err := foldedFilters(cfg, lctn)
	if err != nil {
		return r, err
	}
	schemas, err := matchingSchemas(ctx, src, filter)
	if err != nil {
		return r, err
	}
	srcKeys, err := readForeignKeys(ctx, src, schemas)
	if err != nil {
		return r, fmt.Errorf("source: %w", err)
	}
	selected := func(t tableRef) bool { return filter.Match(t.Schema, t.Name) }
	route := func(t tableRef) tableRef {
		db, tbl := router.Route(t.Schema, t.Name)
		return tableRef{db, tbl}
	}
	accepted := func(t tableRef) bool { return accept.Match(t.Schema, t.Name) }
	// The target's keys, of the schemas the cascading children go to.
	seen := map[string]bool{}
	var dstSchemas []string
	for _, e := range srcKeys {
		if !e.cascades() || !selected(e.child) {
			continue
		}
		if !accepted(e.child) {
			r.Keys++
		} else if n := e.child.String(); !slices.Contains(r.Accepted, n) {
			r.Accepted = append(r.Accepted, n)
		}
		if c := route(e.child); !seen[c.Schema] {
			seen[c.Schema] = true
			dstSchemas = append(dstSchemas, c.Schema)
		}
	}
	slices.Sort(r.Accepted)
	if len(dstSchemas) == 0 {
		return r, nil
	}
	dstKeys, err := readForeignKeys(ctx, dst, dstSchemas)
	if err != nil {
		return r, fmt.Errorf("target: %w", err)
	}
	var existErr error
	exists := func(t tableRef) bool {
		var n int
		if err := dst.QueryRowContext(ctx, `SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?`,
			t.Schema, t.Name).Scan(&n); err != nil && existErr == nil {
			existErr = fmt.Errorf("look for table %s on the target: %w", t, err)
		}
		return n > 0
	}
	probs := cascadeProblems(srcKeys, dstKeys, selected, route, exists, accepted)
	if existErr != nil {
		return r, existErr
	}
	for i := range probs {
		probs[i] += ": " + cascadeFix
	}
	r.Problems = probs
	return r, nil
}

// matchingSchemas lists the source schemas the filter may select.
func matchingSchemas(ctx context.Context, db querier, f tablefilter.Filter) ([]string, error) {
	rows, err := db.QueryContext(ctx, "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA")
	if err != nil {
		return nil, fmt.Errorf("list schemas: %w", err)
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, fmt.Errorf("list schemas: %w", err)
		}
		if !isSystemSchema(s) && f.MatchSchema(s) {
			out = append(out, s)
		}
	}
	return out, rows.Err()
}

func isSystemSchema(s string) bool {
	for _, x := range systemSchemas {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

// checkCascadesNow stops sync when the target cannot reproduce a cascade:
// run at the start of every sync attempt (after the load created tables).
func (e *syncEnv) checkCascadesNow(ctx context.Context, src, dst querier) error {
	probs, err := checkCascades(ctx, src, dst, e.cfg)
	if err != nil {
		return fmt.Errorf("sync %s/%s: check foreign keys: %w", e.cfg.Task, e.cfg.Source, err)
	}
	if len(probs) > 0 {
		return Permanent(fmt.Errorf("sync %s/%s: the target cannot reproduce the source's foreign-key cascades:\n  - %s",
			e.cfg.Task, e.cfg.Source, strings.Join(probs, "\n  - ")))
	}
	return nil
}
