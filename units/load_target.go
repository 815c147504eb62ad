package units

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
)

// createTargets creates the target schemas and tables that do not exist,
// from the source's definitions under their routed names. Tables that
// routes merge (many source tables, one target table) are created once,
// from the first source table in name order; their rows must not collide
// on the target's keys (for example sharded AUTO_INCREMENT ids): as in
// DM, choosing keys that stay unique is left to the user, who may create
// the target table beforehand.
func createTargets(ctx context.Context, src querier, target *sql.DB, jobs []*tableJob, log *slog.Logger) (map[tableRef]bool, error) {
	created := map[tableRef]bool{}
	conn, err := target.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("connect to target: %w", err)
	}
	defer conn.Close()
	for _, q := range []string{
		"SET SESSION sql_mode = 'NO_AUTO_VALUE_ON_ZERO,NO_ENGINE_SUBSTITUTION'",
		"SET SESSION foreign_key_checks = 0",
		"SET SESSION time_zone = '+00:00'",
	} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			return nil, fmt.Errorf("target session: %s: %w", q, err)
		}
	}
	schemas := map[string]bool{}
	tables := map[tableRef]bool{}
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
		stmt, err := retargetCreate(ddl, j.dst)
		if err != nil {
			return nil, Permanent(err)
		}
		if _, err := conn.ExecContext(ctx, stmt); err != nil {
			if isTransient(err) {
				return nil, fmt.Errorf("create table %s on the target: %w", j.dst, err)
			}
			return nil, Permanent(fmt.Errorf("create table %s on the target from the definition of %s: %w: "+
				"create it by hand with a definition the target accepts, then resume", j.dst, j.src, err))
		}
		created[j.dst] = true
		log.Debug("target table created", "table", j.dst.String(), "from", j.src.String())
	}
	return created, nil
}
