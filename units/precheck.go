package units

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/dmplan/dmplan/internal/tablefilter"
)

// errPrecheck marks a failed precheck; the error lists every failure with
// how to fix it.
var errPrecheck = errors.New("precheck failed")

// precheckError lists every failed check.
type precheckError struct {
	Failures []string // one line each: what is wrong, then how to fix it
}

func (e *precheckError) Error() string {
	return fmt.Sprintf("%d precheck failures:\n  - %s", len(e.Failures), strings.Join(e.Failures, "\n  - "))
}

func (e *precheckError) Unwrap() []error { return []error{errPrecheck, ErrPermanent} }

// precheck checks that the source can be dumped and replicated and that
// the target can hold dmplan_meta: binlog on, ROW format, FULL row image,
// server_id set, the privileges dump and sync need — what cfg.Mode needs
// (full: no binlog checks; incremental: no dump privileges). It collects every
// failure, each with the SQL or configuration that fixes it. A source or
// target it cannot reach is a plain (transient) error.
func precheck(ctx context.Context, cfg Config) error { return precheckLogged(ctx, cfg, nil) }

// precheckLogged is precheck, with its steps' times in a debug line of log.
func precheckLogged(ctx context.Context, cfg Config, log *slog.Logger) error {
	ss, ls, ts, all := newSteps(), newSteps(), newSteps(), newSteps() // one per goroutine
	defer func() {
		ss.log(log, "precheck source steps")
		ls.log(log, "precheck listing")
		ts.log(log, "precheck target steps")
		all.log(log, "precheck steps")
	}()
	src, err := Open(cfg.From, 3)
	if err != nil {
		return err
	}
	defer src.Close()
	// ensureMeta creates the missing dmplan_meta tables at once, one
	// connection each: at innodb_flush_log_at_trx_commit=1 every CREATE
	// TABLE waits for its fsyncs (2 connections: 100–280 ms for the 7
	// tables, 8: 100–115 ms).
	dst, err := Open(cfg.To, len(metaDDL))
	if err != nil {
		return err
	}
	defer dst.Close()
	// The source's checks, the listing of the schemas the subtask writes
	// into (on a second source connection) and the target's checks (which
	// create dmplan_meta on a new target) run at once; failures are listed
	// source first.
	var (
		srcFails []string
		srcErr   error
		schemas  []string
		listErr  error
		wg       sync.WaitGroup
	)
	wg.Go(func() {
		if err := src.PingContext(ctx); err != nil {
			srcErr = fmt.Errorf("precheck: connect to source %s: %w", cfg.From, err)
			return
		}
		ss.mark("connect")
		srcFails, srcErr = precheckSource(ctx, src, cfg, ss)
	})
	wg.Go(func() {
		if schemas, listErr = targetSchemas(ctx, src, cfg); listErr == nil {
			ls.mark("target_schemas")
		}
	})
	tf, g, dstErr := func() ([]string, *grants, error) {
		if err := dst.PingContext(ctx); err != nil {
			return nil, nil, fmt.Errorf("precheck: connect to target %s: %w", cfg.To, err)
		}
		ts.mark("connect")
		return precheckTarget(ctx, dst, cfg, ts)
	}()
	wg.Wait()
	all.mark("sides")
	if err := cmp.Or(srcErr, listErr, dstErr); err != nil {
		return err
	}
	if g != nil {
		tf = append(tf, targetGrantFails(cfg, g, schemas)...)
	}
	fails := append(srcFails, tf...)
	if cfg.Mode != ModeFull {
		probs, err := checkCascades(ctx, src, dst, cfg)
		if err != nil {
			return fmt.Errorf("precheck: foreign keys: %w", err)
		}
		fails = append(fails, probs...)
	}
	all.mark("cascades")
	names, err := nameCollisions(ctx, src, dst, cfg)
	all.mark("names")
	if err != nil {
		return fmt.Errorf("precheck: table names: %w", err)
	}
	fails = append(fails, names...)
	if len(fails) > 0 {
		return &precheckError{Failures: fails}
	}
	return nil
}

func precheckSource(ctx context.Context, db *sql.DB, cfg Config, st *steps) ([]string, error) {
	flavor := cfg.Flavor
	if flavor == "" {
		f, err := DetectFlavor(ctx, db)
		if err != nil {
			return nil, err
		}
		flavor = f
	}
	st.mark("flavor")
	var logBin int
	var format, image string
	var serverID uint64
	if err := db.QueryRowContext(ctx, "SELECT @@log_bin, @@binlog_format, @@binlog_row_image, @@server_id").
		Scan(&logBin, &format, &image, &serverID); err != nil {
		return nil, fmt.Errorf("precheck: read source variables: %w", err)
	}
	st.mark("variables")
	var fails []string
	src := "source " + cfg.From.String()
	needDump, needSync := cfg.Mode != ModeIncremental, cfg.Mode != ModeFull
	if needSync && logBin != 1 {
		fails = append(fails, src+": the binary log is off (log_bin=OFF): add log-bin=mysql-bin to the server's [mysqld] (MariaDB: [mariadbd]) config section and restart it")
	}
	if needSync && !strings.EqualFold(format, "ROW") {
		fails = append(fails, fmt.Sprintf("%s: binlog_format is %s, sync needs ROW: SET GLOBAL binlog_format = 'ROW'; and binlog_format=ROW in the config file", src, format))
	}
	if needSync && !strings.EqualFold(image, "FULL") {
		fails = append(fails, fmt.Sprintf("%s: binlog_row_image is %s, sync needs FULL: SET GLOBAL binlog_row_image = 'FULL'; and binlog_row_image=FULL in the config file", src, image))
	}
	if needSync && serverID == 0 {
		fails = append(fails, src+": server_id is 0: SET GLOBAL server_id = <a unique number>; and server_id in the config file")
	}
	g, err := readGrants(ctx, db)
	if err != nil {
		return nil, err
	}
	st.mark("grants")
	schemas, err := selectedSchemas(ctx, db, cfg.Tables)
	if err != nil {
		return nil, err
	}
	st.mark("schemas")
	binlogMonitor := "BINLOG MONITOR"
	if flavor == "mysql" {
		binlogMonitor = "REPLICATION CLIENT"
	}
	var missing, why []string
	if needDump {
		for _, p := range []string{"SELECT", "LOCK TABLES", "SHOW VIEW"} {
			if !g.hasOnAll(p, schemas) {
				missing = append(missing, p)
			}
		}
		if !g.global("RELOAD") {
			missing = append(missing, "RELOAD")
		}
		why = append(why, "dump needs SELECT, RELOAD, LOCK TABLES, SHOW VIEW")
	}
	if needSync {
		// Sync reads the definitions of the tables it replicates.
		if !needDump && !g.hasOnAll("SELECT", schemas) {
			missing = append(missing, "SELECT")
		}
		for _, p := range []string{"REPLICATION SLAVE", binlogMonitor} {
			if !g.global(p) && !(p == "BINLOG MONITOR" && g.global("REPLICATION CLIENT")) {
				missing = append(missing, p)
			}
		}
		why = append(why, "sync needs SELECT, REPLICATION SLAVE, "+binlogMonitor)
	}
	if len(missing) > 0 {
		fails = append(fails, fmt.Sprintf("%s: user %s lacks %s (%s): GRANT %s ON *.* TO %s;",
			src, g.user, strings.Join(missing, ", "), strings.Join(why, "; "), strings.Join(missing, ", "), g.user))
	}
	return fails, nil
}

// selectedSchemas lists the source schemas the filter may select.
func selectedSchemas(ctx context.Context, db *sql.DB, tables []string) ([]string, error) {
	f, err := tablefilter.Parse(tables)
	if err != nil {
		return nil, Permanent(fmt.Errorf("precheck: table filter: %w", err))
	}
	rows, err := db.QueryContext(ctx, "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA")
	if err != nil {
		return nil, fmt.Errorf("precheck: list schemas: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, fmt.Errorf("precheck: list schemas: %w", err)
		}
		if !slices.Contains(systemSchemas, strings.ToLower(s)) && f.MatchSchema(s) {
			out = append(out, s)
		}
	}
	return out, rows.Err()
}

// grants are the current user's privileges, global and per schema.
// Privileges granted through roles are not seen.
type grants struct {
	user  string
	privs map[string][]string // "*" for ON *.*, else the schema name
}

var grantRE = regexp.MustCompile("^GRANT (.+?) ON (\\*|`(?:[^`]|``)+`|[^ .]+)\\.(\\*|`(?:[^`]|``)+`|[^ ]+) TO ")

func readGrants(ctx context.Context, db *sql.DB) (*grants, error) {
	g := &grants{privs: map[string][]string{}}
	if err := db.QueryRowContext(ctx, "SELECT CURRENT_USER()").Scan(&g.user); err != nil {
		return nil, fmt.Errorf("precheck: read current user: %w", err)
	}
	if at := strings.LastIndex(g.user, "@"); at > 0 {
		g.user = "'" + g.user[:at] + "'@'" + g.user[at+1:] + "'"
	}
	rows, err := db.QueryContext(ctx, "SHOW GRANTS FOR CURRENT_USER()")
	if err != nil {
		return nil, fmt.Errorf("precheck: read grants: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return nil, fmt.Errorf("precheck: read grants: %w", err)
		}
		m := grantRE.FindStringSubmatch(line)
		if m == nil || m[3] != "*" {
			continue // table-level grants are not enough for a dump
		}
		on := m[2]
		if on != "*" {
			on = strings.ReplaceAll(strings.Trim(on, "`"), "``", "`")
		}
		for _, p := range strings.Split(m[1], ",") {
			g.privs[on] = append(g.privs[on], strings.ToUpper(strings.TrimSpace(p)))
		}
	}
	return g, rows.Err()
}

func (g *grants) has(on, priv string) bool {
	for _, p := range g.privs[on] {
		if p == priv || p == "ALL PRIVILEGES" || p == "ALL" {
			return true
		}
	}
	return false
}

func (g *grants) global(priv string) bool { return g.has("*", priv) }

// hasOnAll reports whether priv is granted globally or on every schema.
func (g *grants) hasOnAll(priv string, schemas []string) bool {
	if g.global(priv) {
		return true
	}
	for _, s := range schemas {
		if !g.has(s, priv) {
			return false
		}
	}
	return true
}

// Grants a target user needs (docs/security.md): all of dmplan_meta, and
// on every schema the subtask writes into, what its units run there.
var (
	// load: CREATE DATABASE/TABLE, LOAD DATA ... REPLACE (INSERT and
	// DELETE), DROP for a fresh start, SELECT to read what is there.
	targetLoadPrivs = []string{"SELECT", "INSERT", "DELETE", "CREATE", "DROP"}
	// sync: row changes, and the DDL it replays.
	targetSyncPrivs = []string{"SELECT", "INSERT", "UPDATE", "DELETE", "CREATE", "DROP", "ALTER", "INDEX"}
)

// targetPrivs lists what mode needs on the target's schemas, in a stable order.
func targetPrivs(mode Mode) []string {
	switch mode {
	case ModeFull:
		return targetLoadPrivs
	}
	return targetSyncPrivs
}

// precheckTarget checks that dmplan_meta can be created and written, and
// reads the user's grants for targetGrantFails (nil when dmplan_meta
// already failed). A lost connection (the target restarting) is an error
// to retry, not a failure.
func precheckTarget(ctx context.Context, db *sql.DB, cfg Config, st *steps) ([]string, *grants, error) {
	dst := "target " + cfg.To.String()
	fix := fmt.Sprintf("GRANT ALL PRIVILEGES ON %s.* TO <the target user>;", QuoteIdent(metaSchema))
	if err := ensureMetaFor(ctx, db, cfg.Mode); err != nil {
		if isTransient(err) {
			return nil, nil, fmt.Errorf("precheck: %s: create %s: %w", dst, metaSchema, err)
		}
		return []string{fmt.Sprintf("%s: cannot create %s: %v: %s", dst, metaSchema, err, fix)}, nil, nil
	}
	st.mark("meta")
	tx, err := db.BeginTx(ctx, nil)
	if err == nil {
		_, err = tx.ExecContext(ctx, `INSERT INTO dmplan_meta.load_done (task, source, binlog_file, binlog_pos, gtid)
			VALUES ('dmplan-precheck', 'dmplan-precheck', '', 0, '')`)
		tx.Rollback()
	}
	if err != nil {
		if isTransient(err) {
			return nil, nil, fmt.Errorf("precheck: %s: write %s: %w", dst, metaSchema, err)
		}
		return []string{fmt.Sprintf("%s: cannot write %s: %v: %s", dst, metaSchema, err, fix)}, nil, nil
	}
	st.mark("write")
	g, err := readGrants(ctx, db)
	if err != nil {
		return nil, nil, fmt.Errorf("precheck: %s: %w", dst, err)
	}
	st.mark("grants")
	return nil, g, nil
}

// targetGrantFails says which of what cfg.Mode needs the target user g
// lacks on each target schema.
func targetGrantFails(cfg Config, g *grants, schemas []string) []string {
	dst := "target " + cfg.To.String()
	var fails []string
	for _, schema := range schemas {
		var missing []string
		for _, p := range targetPrivs(cfg.Mode) {
			if !g.global(p) && !g.has(schema, p) {
				missing = append(missing, p)
			}
		}
		if len(missing) > 0 {
			fails = append(fails, fmt.Sprintf("%s: user %s lacks %s on %s (mode %s writes there): GRANT %s ON %s.* TO %s;",
				dst, g.user, strings.Join(missing, ", "), QuoteIdent(schema), cfg.Mode, strings.Join(missing, ", "), QuoteIdent(schema), g.user))
		}
	}
	return fails
}

// targetSchemas lists the target schemas the subtask's selected source
// tables are routed to, sorted.
func targetSchemas(ctx context.Context, src *sql.DB, cfg Config) ([]string, error) {
	f, err := tablefilter.Parse(cfg.Tables)
	if err != nil {
		return nil, Permanent(fmt.Errorf("precheck: table filter: %w", err))
	}
	routes := make([]tablefilter.Route, len(cfg.Routes))
	for i, r := range cfg.Routes {
		routes[i] = tablefilter.Route{From: r.From, To: r.To}
	}
	rt, err := tablefilter.ParseRoutes(routes)
	if err != nil {
		return nil, Permanent(fmt.Errorf("precheck: routes: %w", err))
	}
	refs, err := listTables(ctx, src, f.Match)
	if err != nil {
		return nil, fmt.Errorf("precheck: %w", err)
	}
	seen := map[string]bool{}
	for _, r := range refs {
		tdb, _ := rt.Route(r.Schema, r.Name)
		seen[tdb] = true
	}
	out := make([]string, 0, len(seen))
	for s := range seen {
		out = append(out, s)
	}
	slices.Sort(out)
	return out, nil
}
