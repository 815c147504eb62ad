package units

import (
	"context"
	"fmt"
	"strings"

	"github.com/dmplan/dmplan/internal/tablefilter"
)

// checkCascades lists the cascading foreign keys of the selected source
// tables that the target cannot reproduce (fk.go), each line ending with
// what to do. A target table that does not exist yet is taken to be
// created by the load, with its keys.
func checkCascades(ctx context.Context, src, dst querier, cfg Config) ([]string, error) {
	lctn, err := readLowerCaseTableNames(ctx, src)
	if err != nil {
		return nil, fmt.Errorf("source: %w", err)
	}
	filter, router, accept, err := foldedFilters(cfg, lctn)
	if err != nil {
		return nil, err
	}
	schemas, err := matchingSchemas(ctx, src, filter)
	if err != nil {
		return nil, err
	}
	srcKeys, err := readForeignKeys(ctx, src, schemas)
	if err != nil {
		return nil, fmt.Errorf("source: %w", err)
	}
	selected := func(t tableRef) bool { return filter.Match(t.Schema, t.Name) }
	route := func(t tableRef) tableRef {
		db, tbl := router.Route(t.Schema, t.Name)
		return tableRef{db, tbl}
	}
	// The target's keys, of the schemas the cascading children go to.
	seen := map[string]bool{}
	var dstSchemas []string
	for _, e := range srcKeys {
		if c := route(e.child); e.cascades() && selected(e.child) && !seen[c.Schema] {
			seen[c.Schema] = true
			dstSchemas = append(dstSchemas, c.Schema)
		}
	}
	if len(dstSchemas) == 0 {
		return nil, nil
	}
	dstKeys, err := readForeignKeys(ctx, dst, dstSchemas)
	if err != nil {
		return nil, fmt.Errorf("target: %w", err)
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
	accepted := func(t tableRef) bool { return accept.Match(t.Schema, t.Name) }
	probs := cascadeProblems(srcKeys, dstKeys, selected, route, exists, accepted)
	if existErr != nil {
		return nil, existErr
	}
	for i := range probs {
		probs[i] += ": " + cascadeFix
	}
	return probs, nil
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
