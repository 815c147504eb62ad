package units

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"database/sql/driver"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/dmplan/dmplan/units/ddl"
)

// DDL is applied in binlog order as a barrier: every worker commits what
// it holds, the target objects the statement touches are fingerprinted
// (SHOW CREATE of each, or "absent"), the checkpoint records "DDL ending
// at X in progress, fingerprint F, resume before it", the DDL runs, and
// the checkpoint records "DDL X done, resume after it". A DDL cannot share
// a transaction with the checkpoint (it commits implicitly), so a crash
// between the two records replays it, and the replay rule decides: if the
// fingerprint is no longer F the DDL had run, and it is not run again.
// Errors meaning "already so" (table exists, unknown table, duplicate
// column or key, ...) are logged and tolerated: merged shards repeat the
// same DDL, and a target may have been prepared by hand.
//
// Statement text is never logged: CREATE USER ... IDENTIFIED BY 'x'
// travels in the binlog in clear. Statements that are not about tables
// or databases are skipped.

// handleStatement applies a statement event that is not BEGIN/COMMIT.
// It returns the DDL's mark and whether the checkpoint must record it done.
func (s *syncer) handleStatement(ctx context.Context, ev *replication.BinlogEvent, e *replication.QueryEvent, resume Position) (workerMark, bool, error) {
	h := ev.Header
	mark := workerMark{File: s.file, Pos: h.LogPos}
	where := fmt.Sprintf("%s:%d", s.file, h.LogPos)
	mode, modeKnown := statusSQLMode(e.StatusVars)
	if handled, applied, err := s.onlineStatement(ctx, string(e.Schema), string(e.Query), mode, modeKnown, mark); handled {
		return mark, applied, err
	}
	plan, err := s.planStatement(string(e.Schema), string(e.Query), mode)
	if err != nil {
		return mark, false, fmt.Errorf("sync %s/%s: statement at %s: %w", s.cfg.Task, s.cfg.Source, where, err)
	}
	if plan == nil {
		return mark, false, nil
	}
	if skip, err := s.filterStatement(plan, string(e.Query), h.LogPos); err != nil {
		return mark, false, err
	} else if skip {
		if plan, err = s.droppedDDL(ctx, plan, string(e.Schema), string(e.Query), mode); plan == nil || err != nil {
			return mark, false, err
		}
	}
	if plan.Refuse != "" {
		return mark, false, Permanent(fmt.Errorf("sync %s/%s: statement at %s: %s", s.cfg.Task, s.cfg.Source, where, plan.Refuse))
	}
	if handled, applied, err := s.optimisticStatement(ctx, plan, string(e.Schema), string(e.Query), mode, modeKnown, mark, resume); handled { // shard_optimistic.go
		return mark, applied, err
	}
	seq := mark.seq()
	act, err := s.shardStatement(ctx, plan, seq, mark, resume) // shard.go
	switch {
	case err != nil || act == shardDrop:
		return mark, false, err
	case act == shardPassed:
		return mark, true, nil
	case act == shardSkip:
		// Kept off the target: the shard's own definition moves on in its
		// source view (sync_view.go), so its rows still apply by name.
		if plan, err = s.droppedDDL(ctx, plan, string(e.Schema), string(e.Query), mode); plan == nil || err != nil {
			return mark, err == nil, err
		}
		act = shardNone
	}
	if seq.lessEq(s.ddlDone) && act != shardReplay {
		return mark, false, nil // applied before a restart
	}
	if s.windows != nil && len(plan.Src) > 0 &&
		s.windows.Decide(plan.Src[0].Schema, plan.Src[0].Name, Position{File: s.file, Pos: h.LogPos}) == eventSkip {
		return mark, false, nil // the loaded definition has it already
	}
	if err := s.flush(ctx); err != nil {
		return mark, false, err
	}
	if s.valid != nil {
		s.valid.settle(ctx) // read the rows applied before the DDL changes their table
	}
	fp, err := fingerprint(ctx, s.target, plan)
	if err != nil {
		return mark, false, err
	}
	if seq == s.pending && s.pendingFP != "" && fp != s.pendingFP {
		s.log.Info("DDL found applied before a restart", "kind", plan.Kind, "tables", plan.Tables, "binlog", s.file, "pos", h.LogPos)
	} else {
		if err := s.meta.ddlPending(ctx, mark, fp, s.capResume(resume)); err != nil {
			return mark, false, err
		}
		s.pending, s.pendingFP = seq, fp
		if err := s.followView(ctx, plan, string(e.Schema), string(e.Query), mode, modeKnown, mark); err != nil {
			return mark, false, err
		}
		s.log.Info("applying DDL", "kind", plan.Kind, "tables", plan.Tables, "databases", plan.DBs, "binlog", s.file, "pos", h.LogPos)
		if err := s.applyDDL(ctx, plan, mode, modeKnown); err != nil {
			return mark, false, fmt.Errorf("sync %s/%s: %s %v at %s: %w", s.cfg.Task, s.cfg.Source, plan.Kind, plan.Tables, where, err)
		}
	}
	if err := s.shardExecuted(ctx); err != nil {
		return mark, false, err
	}
	s.tables.reset()
	s.ddlDone, s.pending, s.pendingFP = seq, syncSeq{}, ""
	return mark, true, nil
}

// statusSQLMode reads sql_mode from a query event's status variables
// (Q_FLAGS2_CODE, then Q_SQL_MODE_CODE, as servers write them).
func statusSQLMode(vars []byte) (uint64, bool) {
	for i := 0; i < len(vars); {
		switch vars[i] {
		case 0: // Q_FLAGS2_CODE
			i += 5
		case 1: // Q_SQL_MODE_CODE
			if i+9 > len(vars) {
				return 0, false
			}
			return binary.LittleEndian.Uint64(vars[i+1 : i+9]), true
		default:
			return 0, false
		}
	}
	return 0, false
}

// planStatement decides what a statement of the binlog becomes on the
// target (ddl.PlanStatement, under the task's filter and routes); an error
// is permanent.
func (s *syncer) planStatement(schema, query string, mode uint64) (*ddl.Plan, error) {
	p, err := ddl.PlanStatement(ddlResolver{s}, schema, query, mode)
	return p, Permanent(err)
}

// ddlResolver is the syncer's filter and routes as the DDL planner asks.
type ddlResolver struct{ s *syncer }

func (r ddlResolver) Route(schema, table string) ddl.Route {
	x := r.s.route(schema, table)
	return ddl.Route{Skip: x.skip, To: ddl.Table(x.dst), Merged: x.merged}
}

// StoredName is a name as the source stores it (names.go).
func (r ddlResolver) StoredName(name string) string { return r.s.storedName(name) }

func (r ddlResolver) Replicates(schema string) bool {
	return !slices.Contains(systemSchemas, strings.ToLower(schema)) && r.s.filter.MatchSchema(schema)
}

// applyDDL runs a plan on a connection of its own, under the source
// statement's sql_mode; the connection is dropped afterwards.
func (s *syncer) applyDDL(ctx context.Context, p *ddl.Plan, mode uint64, modeKnown bool) error {
	conn, done, err := ddlConn(ctx, s.cfg.To)
	if err != nil {
		return err
	}
	defer done()
	for _, q := range p.Pre {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			return classifyDDLError(err)
		}
	}
	if modeKnown {
		if _, err := conn.ExecContext(ctx, fmt.Sprintf("SET SESSION sql_mode = %d", mode)); err != nil {
			if isTransient(err) {
				return err
			}
			return Permanent(fmt.Errorf("set the statement's sql_mode (%d) on the target: %w; the target does not know a mode the source used: "+
				"apply the DDL to the target by hand, then restart the task from a position after it", mode, err))
		}
	}
	if p.UseDB != "" {
		// Unqualified names in the statement are in the source session's
		// database; when the target lacks it, routed names are qualified anyway.
		if _, err := conn.ExecContext(ctx, "USE "+QuoteIdent(p.UseDB)); err != nil && errno(err) != 1049 {
			return classifyDDLError(err)
		}
	}
	// The fence and the DDL in one round trip: a run that lost its lock
	// changes nothing (fence.go).
	stmt := s.fence.assertSQL() + ";" + p.Stmt
	if _, err := conn.ExecContext(ctx, stmt); err != nil {
		if err := fenceErr(err); errors.Is(err, errLockLost) {
			return err
		}
		if n := errno(err); ddlAlreadyErrno(n) {
			s.log.Warn("DDL found already applied on the target; going on", "kind", p.Kind, "tables", p.Tables, "errno", n)
			return nil
		}
		return classifyDDLError(err)
	}
	return nil
}

// ddlConn opens the connection a DDL runs on: the sync target's session,
// without a read timeout, since an ALTER TABLE may run for hours without a
// byte back; ctx (the link watch, a stop) still ends it at once.
func ddlConn(ctx context.Context, ep Endpoint) (*sql.Conn, func(), error) {
	c, err := syncTargetConfig(ep)
	if err != nil {
		return nil, nil, err
	}
	c.ReadTimeout = 0
	db, err := openDB(ep, c, 1, nil)
	if err != nil {
		return nil, nil, err
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	return conn, func() {
		_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		conn.Close()
		db.Close()
	}, nil
}

func classifyDDLError(err error) error {
	if isTransient(err) {
		return err
	}
	return Permanent(fmt.Errorf("%w: the target rejected the DDL; make the target's schema match the source's and resume", err))
}

// ddlAlreadyErrno: errors that say the DDL's effect is there already.
func ddlAlreadyErrno(n uint16) bool {
	switch n {
	case 1007, // database exists
		1008, // database does not exist (DROP)
		1050, // table exists
		1051, // unknown table (DROP)
		1060, // duplicate column
		1061, // duplicate key name
		1068, // multiple primary key
		1091, // cannot drop: does not exist
		1826: // duplicate foreign key name
		return true
	}
	return false
}

// fingerprint hashes the current definition of every target object p
// touches.
func fingerprint(ctx context.Context, q querier, p *ddl.Plan) (string, error) {
	h := sha256.New()
	dbs := slices.Clone(p.DBs)
	slices.Sort(dbs)
	for _, db := range dbs {
		var name, def string
		err := q.QueryRowContext(ctx, "SHOW CREATE DATABASE "+QuoteIdent(db)).Scan(&name, &def)
		if errno(err) == 1049 {
			def, err = "absent", nil
		}
		if err != nil {
			return "", fmt.Errorf("fingerprint database %s: %w", QuoteIdent(db), err)
		}
		fmt.Fprintf(h, "db %q %q\n", db, def)
	}
	tables := slices.Clone(p.Tables)
	slices.SortFunc(tables, func(a, b ddl.Table) int { return strings.Compare(a.String(), b.String()) })
	for _, t := range tables {
		var name, def string
		err := q.QueryRowContext(ctx, "SHOW CREATE TABLE "+t.String()).Scan(&name, &def)
		if n := errno(err); n == 1146 || n == 1049 {
			def, err = "absent", nil
		}
		if err != nil {
			return "", fmt.Errorf("fingerprint table %s: %w", t, err)
		}
		fmt.Fprintf(h, "table %q %q\n", t.String(), def)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
