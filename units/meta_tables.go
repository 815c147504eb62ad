package units

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
)

// Every table of dmplan_meta is defined here, in one list, as
// internal/store/keys.go holds every etcd key. docs/units.md describes
// each table; the units read and write them in meta.go (dump/load),
// sync_checkpoint.go and sync_identity.go (sync), fresh.go (subtask configuration) and
// owners.go (the target tables each subtask writes into).

// metaSchema is the target schema that holds every checkpoint. It is never
// dumped, and never replicated by sync.
const metaSchema = "dmplan_meta"

// metaDDL creates dmplan_meta. Every statement is idempotent.
var metaDDL = []string{
	"CREATE DATABASE IF NOT EXISTS " + QuoteIdent(metaSchema) + " DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin",

	// Dump and load.
	//
	// One row per snapshot that rows were read from. Attempts that are
	// interrupted and resumed take a new snapshot each.
	`CREATE TABLE IF NOT EXISTS dmplan_meta.dump_snapshot (
		task VARCHAR(64) NOT NULL,
		source VARCHAR(64) NOT NULL,
		snapshot_id INT UNSIGNED NOT NULL,
		binlog_file VARCHAR(255) NOT NULL,
		binlog_pos BIGINT UNSIGNED NOT NULL,
		gtid TEXT NOT NULL,
		taken_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
		PRIMARY KEY (task, source, snapshot_id)
	) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`,
	// One row per source table being loaded: where it goes, the columns
	// written and the key chunks are cut by (JSON lists), and whether this
	// subtask created the target table.
	`CREATE TABLE IF NOT EXISTS dmplan_meta.load_table (
		task VARCHAR(64) NOT NULL,
		source VARCHAR(64) NOT NULL,
		src_schema VARCHAR(64) NOT NULL,
		src_table VARCHAR(64) NOT NULL,
		dst_schema VARCHAR(64) NOT NULL,
		dst_table VARCHAR(64) NOT NULL,
		columns MEDIUMTEXT NOT NULL,
		chunk_key TEXT NOT NULL,
		created_target TINYINT NOT NULL DEFAULT 0,
		PRIMARY KEY (task, source, src_schema, src_table)
	) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`,
	// One row per chunk: the key range (lo_key, hi_key] (NULL: unbounded).
	// A chunk is recorded (done = 0) before its rows are read; the row
	// becomes done = 1, with the snapshot the rows came from, in the same
	// target transaction that writes the rows.
	`CREATE TABLE IF NOT EXISTS dmplan_meta.load_chunk (
		task VARCHAR(64) NOT NULL,
		source VARCHAR(64) NOT NULL,
		src_schema VARCHAR(64) NOT NULL,
		src_table VARCHAR(64) NOT NULL,
		seq INT UNSIGNED NOT NULL,
		lo_key MEDIUMTEXT NULL,
		hi_key MEDIUMTEXT NULL,
		done TINYINT NOT NULL DEFAULT 0,
		snapshot_id INT UNSIGNED NULL,
		row_count BIGINT UNSIGNED NOT NULL DEFAULT 0,
		byte_count BIGINT UNSIGNED NOT NULL DEFAULT 0,
		PRIMARY KEY (task, source, src_schema, src_table, seq)
	) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`,
	// One row when dump+load has finished: where sync starts.
	`CREATE TABLE IF NOT EXISTS dmplan_meta.load_done (
		task VARCHAR(64) NOT NULL,
		source VARCHAR(64) NOT NULL,
		binlog_file VARCHAR(255) NOT NULL,
		binlog_pos BIGINT UNSIGNED NOT NULL,
		gtid TEXT NOT NULL,
		finished_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
		PRIMARY KEY (task, source)
	) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`,
	// One row per target table the load created without its plain
	// secondary keys (load_keys.go): their definitions, a JSON list of
	// "KEY `k` (`c`)", written before the table is created and deleted once
	// the keys exist. load_done is written only when none of the subtask
	// is left. A fresh start keeps them: they describe the target table,
	// not a checkpoint.
	`CREATE TABLE IF NOT EXISTS dmplan_meta.load_deferred_keys (
		task VARCHAR(64) NOT NULL,
		source VARCHAR(64) NOT NULL,
		dst_schema VARCHAR(64) NOT NULL,
		dst_table VARCHAR(64) NOT NULL,
		key_defs MEDIUMTEXT NOT NULL,
		PRIMARY KEY (task, source, dst_schema, dst_table)
	) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`,

	// Sync (docs/units.md, "Sync").
	//
	// One row per subtask: the resume point S (a transaction boundary in
	// the source's binlog, with its GTID set), the number of workers the
	// per-worker marks belong to, the run generation (bumped by every run,
	// so a stale run notices it was superseded), the last DDL applied and
	// the DDL being applied.
	`CREATE TABLE IF NOT EXISTS dmplan_meta.sync_checkpoint (
		task VARCHAR(64) NOT NULL,
		source VARCHAR(64) NOT NULL,
		binlog_file VARCHAR(255) NOT NULL,
		binlog_pos BIGINT UNSIGNED NOT NULL,
		gtid TEXT NOT NULL,
		workers INT UNSIGNED NOT NULL,
		run_gen BIGINT UNSIGNED NOT NULL,
		ddl_file VARCHAR(255) NOT NULL DEFAULT '',
		ddl_pos BIGINT UNSIGNED NOT NULL DEFAULT 0,
		pending_file VARCHAR(255) NOT NULL DEFAULT '',
		pending_pos BIGINT UNSIGNED NOT NULL DEFAULT 0,
		pending_fp CHAR(64) NOT NULL DEFAULT '',
		updated_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
		PRIMARY KEY (task, source)
	) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`,
	// One row per subtask and worker: the sequence number of the last row
	// change that worker committed, written in the same target transaction
	// as the change itself.
	`CREATE TABLE IF NOT EXISTS dmplan_meta.sync_worker (
		task VARCHAR(64) NOT NULL,
		source VARCHAR(64) NOT NULL,
		worker INT UNSIGNED NOT NULL,
		binlog_file VARCHAR(255) NOT NULL,
		binlog_pos BIGINT UNSIGNED NOT NULL,
		row_idx INT UNSIGNED NOT NULL,
		PRIMARY KEY (task, source, worker)
	) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`,

	// Validation (sync_validate.go, docs/validate.md).
	//
	// One row per target row that still differed from the binlog's image
	// after every check: the key as people read it (and its digest, the
	// row's identity), what differs, and the binlog position of the last
	// change applied to it. A later change to the row that validates
	// removes it; a fresh start empties it.
	`CREATE TABLE IF NOT EXISTS dmplan_meta.validation_error (
		task VARCHAR(64) NOT NULL,
		source VARCHAR(64) NOT NULL,
		dst_schema VARCHAR(64) NOT NULL,
		dst_table VARCHAR(64) NOT NULL,
		key_digest CHAR(64) NOT NULL,
		row_key TEXT NOT NULL,
		kind VARCHAR(16) NOT NULL,
		columns TEXT NOT NULL,
		binlog_file VARCHAR(255) NOT NULL,
		binlog_pos BIGINT UNSIGNED NOT NULL,
		detected_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
		PRIMARY KEY (task, source, dst_schema, dst_table, key_digest)
	) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`,
	// One row per source table whose changes sync holds for a shard DDL
	// lock (shard_hold.go, docs/shard-ddl.md): the DDL ending at
	// ddl_file:ddl_pos on the merged target table, the resume point before
	// it (the stored resume point never passes it while the row exists),
	// and whether the lock was executed (done = 1: the held changes are
	// being replayed).
	`CREATE TABLE IF NOT EXISTS dmplan_meta.shard_hold (
		task VARCHAR(64) NOT NULL,
		source VARCHAR(64) NOT NULL,
		src_schema VARCHAR(64) NOT NULL,
		src_table VARCHAR(64) NOT NULL,
		target VARCHAR(200) NOT NULL,
		ddl MEDIUMTEXT NOT NULL,
		ddl_file VARCHAR(255) NOT NULL,
		ddl_pos BIGINT UNSIGNED NOT NULL,
		from_file VARCHAR(255) NOT NULL,
		from_pos BIGINT UNSIGNED NOT NULL,
		from_gtid TEXT NOT NULL,
		done TINYINT NOT NULL DEFAULT 0,
		held_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
		PRIMARY KEY (task, source, src_schema, src_table)
	) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`,

	// Subtask configuration.
	//
	// One row per subtask: the configuration its checkpoints belong to,
	// the fresh key (a hash of what makes a change "fresh", see freshKey)
	// and the table filter the loaded tables were selected by.
	`CREATE TABLE IF NOT EXISTS dmplan_meta.subtask_config (
		task VARCHAR(64) NOT NULL,
		source VARCHAR(64) NOT NULL,
		fresh_key CHAR(64) NOT NULL,
		tables MEDIUMTEXT NOT NULL,
		updated_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
		PRIMARY KEY (task, source)
	) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`,
	// One row per subtask: the source server every checkpoint of the
	// subtask belongs to (sync_identity.go): server_uuid (MySQL), server_id
	// and gtid_domain_id (MariaDB), and the base name of its binlog files.
	`CREATE TABLE IF NOT EXISTS dmplan_meta.source_server (
		task VARCHAR(64) NOT NULL,
		source VARCHAR(64) NOT NULL,
		server_uuid VARCHAR(64) NOT NULL,
		server_id INT UNSIGNED NOT NULL,
		domain_id INT UNSIGNED NOT NULL,
		binlog_base VARCHAR(255) NOT NULL,
		updated_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
		PRIMARY KEY (task, source)
	) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`,
	// One row per subtask, source table and the target table its rows
	// went to, in any mode: state current (written now), deselected (the
	// filter left the source table out since) or orphaned (the routes send
	// it elsewhere since). Who writes into a target table, for fresh
	// starts and re-copies (owners.go); orphaned ones are shown by status.
	`CREATE TABLE IF NOT EXISTS dmplan_meta.subtask_table (
		task VARCHAR(64) NOT NULL,
		source VARCHAR(64) NOT NULL,
		src_schema VARCHAR(64) NOT NULL,
		src_table VARCHAR(64) NOT NULL,
		dst_schema VARCHAR(64) NOT NULL,
		dst_table VARCHAR(64) NOT NULL,
		mode VARCHAR(16) NOT NULL,
		state VARCHAR(16) NOT NULL,
		updated_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
		PRIMARY KEY (task, source, src_schema, src_table, dst_schema, dst_table),
		KEY by_target (dst_schema, dst_table)
	) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`,
	// Online schema changes (sync_online.go): per subtask and shadow table
	// of gh-ost or pt-online-schema-change, one row at the shadow's CREATE
	// (stmt '') and one per ALTER run on it, keyed by the binlog position of
	// the statement, with the ALTER routed to the real table's target. At
	// the swap each row is applied in order: pending_fp is the target
	// table's fingerprint taken just before (the DDL barrier's replay rule,
	// per row), applied = 1 once it ran.
	// Source views (sync_view.go): per subtask and source table whose
	// ALTERs spec.filters dropped, the dmplan_meta table holding the
	// source's definition, the position of the last ALTER it got, and the
	// fingerprint kept before one it is getting.
	`CREATE TABLE IF NOT EXISTS dmplan_meta.schema_view (
		task VARCHAR(64) NOT NULL,
		source VARCHAR(64) NOT NULL,
		src_schema VARCHAR(64) NOT NULL,
		src_table VARCHAR(64) NOT NULL,
		view_table VARCHAR(64) NOT NULL,
		ddl_file VARCHAR(255) NOT NULL DEFAULT '',
		ddl_pos BIGINT UNSIGNED NOT NULL DEFAULT 0,
		pending_file VARCHAR(255) NOT NULL DEFAULT '',
		pending_pos BIGINT UNSIGNED NOT NULL DEFAULT 0,
		pending_fp CHAR(64) NOT NULL DEFAULT '',
		PRIMARY KEY (task, source, src_schema, src_table)
	) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`,
	`CREATE TABLE IF NOT EXISTS dmplan_meta.online_ddl (
		task VARCHAR(64) NOT NULL,
		source VARCHAR(64) NOT NULL,
		src_schema VARCHAR(64) NOT NULL,
		shadow VARCHAR(64) NOT NULL,
		binlog_file VARCHAR(255) NOT NULL,
		binlog_pos BIGINT UNSIGNED NOT NULL,
		stmt MEDIUMTEXT NOT NULL,
		use_db VARCHAR(64) NOT NULL DEFAULT '',
		pending_fp CHAR(64) NOT NULL DEFAULT '',
		applied TINYINT NOT NULL DEFAULT 0,
		PRIMARY KEY (task, source, src_schema, shadow, binlog_file, binlog_pos)
	) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`,
}

// copyTables are the dmplan_meta tables a mode full subtask reads and
// writes: the dump and load checkpoints, its configuration and the target
// tables it registers. A full copy creates only these on a fresh target
// (on a Debian-defaults server 7 CREATE TABLEs take 30-60 ms, 14 take
// 60-130 ms: the server serialises most of each); sync's tables come with
// the first subtask of another mode, or with anything that resets a
// subtask (ResetSync, ResetDumpLoad), which creates them all. Readers of
// sync's tables outside the sync unit take a missing table as no
// checkpoint (ReadSyncState, relayNeed).
var copyTables = map[string]bool{
	"dump_snapshot": true, "load_table": true, "load_chunk": true, "load_done": true,
	"load_deferred_keys": true, "subtask_config": true, "subtask_table": true,
}

// ensureMeta creates dmplan_meta and every table of it that is missing.
func ensureMeta(ctx context.Context, db querier) error { return ensureMetaFor(ctx, db, ModeAll) }

// ensureMetaFor creates dmplan_meta and the tables of it a subtask of
// the mode uses (every table but in mode full: copyTables) that are missing.
// It reads which tables exist first (one round trip when all do, as on
// every run but the first) and creates the missing ones at once on
// separate connections when db is a pool: each CREATE TABLE waits for
// its own fsyncs (about 30-150 ms each at innodb_flush_log_at_trx_commit=1).
//
// Every table is in a binary collation (utf8mb4_bin): schema and table
// names are keys, and with lower_case_table_names=0 `Shop`.`Orders` and
// `shop`.`orders` are two tables. Tables created by an older dmplan in
// the default (case-insensitive) collation are converted.
func ensureMetaFor(ctx context.Context, db querier, mode Mode) error {
	fail := func(err error) error { return fmt.Errorf("create %s tables: %w", metaSchema, err) }
	have := map[string]bool{}
	var old []string
	rows, err := db.QueryContext(ctx, "SELECT TABLE_NAME, COALESCE(TABLE_COLLATION, '') FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?", metaSchema)
	if err != nil {
		return fail(err)
	}
	for rows.Next() {
		var name, coll string
		if err := rows.Scan(&name, &coll); err != nil {
			rows.Close()
			return fail(err)
		}
		have[strings.ToLower(name)] = true
		if coll != "" && coll != "utf8mb4_bin" {
			old = append(old, name)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fail(err)
	}
	for _, name := range old {
		if _, err := db.ExecContext(ctx, "ALTER TABLE "+quoteTable(metaSchema, name)+
			" CONVERT TO CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"); err != nil {
			return fmt.Errorf("convert %s to a binary collation: %w", quoteTable(metaSchema, name), err)
		}
	}
	var missing []string
	for _, stmt := range metaDDL[1:] {
		name := metaTableName(stmt)
		if !have[name] && (mode != ModeFull || copyTables[name]) {
			missing = append(missing, stmt)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	if _, err := db.ExecContext(ctx, metaDDL[0]); err != nil {
		return fail(err)
	}
	pool, ok := db.(*sql.DB)
	if !ok || len(missing) == 1 {
		for _, stmt := range missing {
			if _, err := db.ExecContext(ctx, stmt); err != nil {
				return fail(err)
			}
		}
		return nil
	}
	errs := make([]error, len(missing))
	var wg sync.WaitGroup
	for i, stmt := range missing {
		wg.Go(func() {
			if _, err := pool.ExecContext(ctx, stmt); err != nil {
				errs[i] = fail(err)
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// metaTableName is the table a metaDDL statement creates, in lower case.
func metaTableName(stmt string) string {
	rest, _ := strings.CutPrefix(stmt, "CREATE TABLE IF NOT EXISTS "+metaSchema+".")
	name, _, _ := strings.Cut(rest, " ")
	return strings.ToLower(name)
}
