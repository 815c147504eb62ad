package units

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/dmplan/dmplan/internal/tablefilter"
)

// Schema and table names are compared as the source server compares them
// (docs/units.md, "Names"): with lower_case_table_names=0 (Linux's
// default) byte for byte — `Shop` and `shop` are two databases — and with
// 1 or 2 in lower case: the table filter, routes and acceptLostCascades
// then match names case-insensitively (tablefilter's Folded), and with 1
// (names stored in lower case) the names a DDL statement spells are
// lower-cased too, as the source stored them.

// readLowerCaseTableNames reads a server's lower_case_table_names.
func readLowerCaseTableNames(ctx context.Context, q querier) (int, error) {
	var n int
	if err := q.QueryRowContext(ctx, "SELECT @@lower_case_table_names").Scan(&n); err != nil {
		return 0, fmt.Errorf("read lower_case_table_names: %w", err)
	}
	return n, nil
}

// setNameCase makes the sync unit compare names as a source with
// lower_case_table_names=lctn does. It is called once per Run, before any
// name is matched.
func (e *syncEnv) setNameCase(lctn int) {
	if lctn == 0 || e.lctn != 0 {
		return
	}
	e.lctn = lctn
	e.filter, e.router = e.filter.Folded(), e.router.Folded()
	e.events = e.events.Folded()
}

// foldName is a name as the source compares it.
func (e *syncEnv) foldName(s string) string {
	if e.lctn != 0 {
		return strings.ToLower(s)
	}
	return s
}

// storedName is a name a statement spells as the source stores it: in
// lower case with lower_case_table_names=1, else as spelt.
func (e *syncEnv) storedName(s string) string {
	if e.lctn == 1 {
		return strings.ToLower(s)
	}
	return s
}

// readNameCase reads the source's lower_case_table_names once per Run.
func (e *syncEnv) readNameCase(ctx context.Context) error {
	if e.lctn != 0 {
		return nil
	}
	src, err := Open(e.cfg.From, 1)
	if err != nil {
		return err
	}
	defer src.Close()
	lctn, err := readLowerCaseTableNames(ctx, src)
	if err != nil {
		return fmt.Errorf("run %s/%s: source: %w", e.cfg.Task, e.cfg.Source, err)
	}
	e.setNameCase(lctn)
	return nil
}

// foldedFilters parses cfg's table filter, routes and acceptLostCascades,
// comparing names as a source with lower_case_table_names=lctn does.
func foldedFilters(cfg Config, lctn int) (filter tablefilter.Filter, router tablefilter.Router, accept tablefilter.Filter, err error) {
	if filter, err = tablefilter.Parse(cfg.Tables); err != nil {
		return filter, router, accept, Permanent(fmt.Errorf("table filter: %w", err))
	}
	if accept, err = tablefilter.Parse(cfg.AcceptLostCascades); err != nil {
		return filter, router, accept, Permanent(fmt.Errorf("acceptLostCascades: %w", err))
	}
	routes := make([]tablefilter.Route, len(cfg.Routes))
	for i, rt := range cfg.Routes {
		routes[i] = tablefilter.Route{From: rt.From, To: rt.To}
	}
	if router, err = tablefilter.ParseRoutes(routes); err != nil {
		return filter, router, accept, Permanent(fmt.Errorf("routes: %w", err))
	}
	if lctn != 0 {
		filter, router, accept = filter.Folded(), router.Folded(), accept.Folded()
	}
	return filter, router, accept, nil
}

// nameCollisions lists the selected source tables whose target names
// differ only in case, when the target folds names (its
// lower_case_table_names is not 0) and the source does not: they would be
// one table there.
func nameCollisions(ctx context.Context, src, dst querier, cfg Config) ([]string, error) {
	srcCase, err := readLowerCaseTableNames(ctx, src)
	if err != nil {
		return nil, fmt.Errorf("source: %w", err)
	}
	dstCase, err := readLowerCaseTableNames(ctx, dst)
	if err != nil {
		return nil, fmt.Errorf("target: %w", err)
	}
	if srcCase != 0 || dstCase == 0 {
		return nil, nil
	}
	filter, router, _, err := foldedFilters(cfg, 0)
	if err != nil {
		return nil, err
	}
	refs, err := listTables(ctx, src, filter.Match)
	if err != nil {
		return nil, err
	}
	byFolded := map[tableRef][]tableRef{}
	var order []tableRef
	for _, r := range refs {
		db, tbl := router.Route(r.Schema, r.Name)
		k := tableRef{strings.ToLower(db), strings.ToLower(tbl)}
		if len(byFolded[k]) == 0 {
			order = append(order, k)
		}
		if to := (tableRef{db, tbl}); !slices.Contains(byFolded[k], to) {
			byFolded[k] = append(byFolded[k], to)
		}
	}
	var out []string
	for _, k := range order {
		if names := byFolded[k]; len(names) > 1 {
			var s []string
			for _, n := range names {
				s = append(s, n.String())
			}
			out = append(out, fmt.Sprintf("target tables %s differ only in case, and the target has lower_case_table_names=%d: "+
				"they would be one table; route them to distinct names, or use a target with lower_case_table_names=0", strings.Join(s, " and "), dstCase))
		}
	}
	return out, nil
}
