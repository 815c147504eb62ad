package units

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// createTargets creates the target schemas and tables that do not exist,
// from the source's definitions under their routed names. Tables that
// routes merge (many source tables, one target table) are created once,
// from the first source table in name order; their rows must not collide
// on the target's keys (for example sharded AUTO_INCREMENT ids): as in
// DM, choosing keys that stay unique is left to the user, who may create
// the target table beforehand.
//
// Foreign keys come along (created with foreign_key_checks=0, so parents
// may follow their children), their references renamed by rename, which
// returns a source table's target name and whether the task replicates it;
// a key to a table the task does not replicate is left out (fk_ddl.go).
//
// With kd set, tables get their plain secondary keys after the load when
// kd allows it (load_keys.go): they are created without them, and the
// keys recorded first.
func createTargets(ctx context.Context, src querier, target *sql.DB, jobs []*tableJob,
	rename func(tableRef) (tableRef, bool), kd *keyDeferral, log *slog.Logger) (map[tableRef]bool, error) {
	created := map[tableRef]bool{}
	st := newSteps()
	defer st.log(log, "create steps")
	conn, err := targetDDLConn(ctx, target)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	// The connections that create the tables at once are opened while the
	// definitions are read (one after another they took 7-32 ms).
	extra := make([]*sql.Conn, max(min(len(jobs), createConns, target.Stats().MaxOpenConnections-2)-1, 0))
	var opening sync.WaitGroup
	for i := range extra {
		opening.Go(func() {
			if c, err := targetDDLConn(ctx, target); err == nil {
				extra[i] = c // else the tables are created on fewer connections
			}
		})
	}
	defer func() {
		opening.Wait()
		for _, c := range extra {
			if c != nil {
				c.Close()
			}
		}
	}()
	schemas := map[string]bool{}
	tables := map[tableRef]bool{}
	type create struct {
		dst, src tableRef
		stmt     string
		autoInc  string
	}
	var todo []create
	for _, j := range jobs {
		if !schemas[j.dst.Schema] {
			schemas[j.dst.Schema] = true
			stmt := "CREATE DATABASE IF NOT EXISTS " + QuoteIdent(j.dst.Schema)
			var cs, coll string
			if err := src.QueryRowContext(ctx, `SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME
				FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?`, j.src.Schema).Scan(&cs, &coll); err == nil {
				stmt += " DEFAULT CHARACTER SET " + QuoteIdent(cs) + " COLLATE " + QuoteIdent(coll)
			}
			if _, err := conn.ExecContext(ctx, stmt); err != nil {
				return nil, Permanent(fmt.Errorf("create schema %s on the target: %w", QuoteIdent(j.dst.Schema), err))
			}
		}
		if tables[j.dst] {
			continue
		}
		tables[j.dst] = true
		var n int
		if err := conn.QueryRowContext(ctx, `SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?`,
			j.dst.Schema, j.dst.Name).Scan(&n); err != nil {
			return nil, fmt.Errorf("look for table %s on the target: %w", j.dst, err)
		}
		if n > 0 {
			continue
		}
		ddl, err := showCreateTable(ctx, src, j.src)
		if err != nil {
			return nil, err
		}
		ddl, dropped, err := retargetForeignKeys(ddl, j.src.Schema, rename)
		if err != nil {
			return nil, Permanent(fmt.Errorf("create table %s: %w", j.dst, err))
		}
		if len(dropped) > 0 {
			log.Warn("foreign keys to tables the task does not replicate are left out of the target table",
				"table", j.dst.String(), "constraints", dropped)
		}
		stmt, err := retargetCreate(ddl, j.dst)
		if err != nil {
			return nil, Permanent(err)
		}
		todo = append(todo, create{j.dst, j.src, stmt, j.def.autoIncColumn()})
	}
	st.mark("definitions")
	if kd != nil && slices.ContainsFunc(todo, func(c create) bool { return strings.Contains(c.stmt, "\n  KEY `") }) {
		if err := kd.load(ctx, src, target, jobs); err != nil {
			return nil, err
		}
		keys := map[tableRef][]string{}
		for i, t := range todo {
			if !kd.allowed(t.src, t.dst) {
				continue
			}
			if stmt, k := splitDeferrableKeys(t.stmt, t.autoInc); k != nil {
				todo[i].stmt, keys[t.dst] = stmt, k
			}
		}
		if err := recordDeferredKeys(ctx, target, kd.cfg, keys); err != nil {
			return nil, err
		}
	}
	st.mark("keys")
	// CREATE TABLE waits for its own fsyncs: several at once, on
	// connections of their own, leaving two of the pool to the snapshot's
	// record and the plan's other statements.
	opening.Wait()
	conns := []*sql.Conn{conn}
	for _, c := range extra {
		if c != nil && len(conns) < len(todo) {
			conns = append(conns, c)
		}
	}
	st.mark("connect")
	errs := make([]error, len(todo))
	var next atomic.Int64
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < len(todo) && ctx.Err() == nil; i = int(next.Add(1) - 1) {
				t := todo[i]
				if _, err := c.ExecContext(ctx, t.stmt); err != nil {
					if isTransient(err) {
						errs[i] = fmt.Errorf("create table %s on the target: %w", t.dst, err)
					} else {
						errs[i] = Permanent(fmt.Errorf("create table %s on the target from the definition of %s: %w: "+
							"create it by hand with a definition the target accepts, then resume", t.dst, t.src, err))
					}
				}
			}
		})
	}
	wg.Wait()
	st.mark("create")
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for _, t := range todo {
		created[t.dst] = true
		log.Debug("target table created", "table", t.dst.String(), "from", t.src.String())
	}
	return created, nil
}

// createConns is how many target tables are created at once, at most: at
// innodb_flush_log_at_trx_commit=1 each CREATE TABLE waits 30–150 ms for
// its fsyncs, and those at once share them (8 sysbench tables at Debian's
// defaults: 32–56 ms on 8 connections, 65–78 ms on 4).
const createConns = 8

// targetDDLConn is a target connection for creating schemas and tables.
func targetDDLConn(ctx context.Context, target *sql.DB) (*sql.Conn, error) {
	conn, err := target.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("connect to target: %w", err)
	}
	const q = "SET SESSION sql_mode = 'NO_AUTO_VALUE_ON_ZERO,NO_ENGINE_SUBSTITUTION', foreign_key_checks = 0, time_zone = '+00:00'"
	if _, err := conn.ExecContext(ctx, q); err != nil {
		conn.Close()
		return nil, fmt.Errorf("target session: %s: %w", q, err)
	}
	return conn, nil
}
