package units

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// snapshot is n source connections inside transactions that all see the
// same consistent snapshot, and the binlog position it corresponds to.
type snapshot struct {
	pos     Position
	conns   []*sql.Conn
	how     string // "lock-free" or "backup-stage" or "ftwrl", for the log
	needPos bool   // false in full mode: a source without a binlog is fine
}

// errNoBinlog: the source has no binary log, so a snapshot has no position.
var errNoBinlog = errors.New("the source has no binary log: enable log_bin (add log-bin=mysql-bin to the server's config) and restart it")

func (s *snapshot) close() {
	for _, c := range s.conns {
		_, _ = c.ExecContext(context.Background(), "ROLLBACK")
		c.Close()
	}
}

// lockFreeAttempts is how often the lock-free method is tried before
// falling back to a brief commit block.
const lockFreeAttempts = 10

// takeSnapshot opens n connections that share one snapshot. On MariaDB
// the position's GTID set is left to resolveGTID.
//
// MariaDB: each connection runs START TRANSACTION WITH CONSISTENT SNAPSHOT
// and reads binlog_snapshot_file/position, the exact binlog place of its
// own snapshot (FACTS.md: the only lock-free exact method). The snapshots
// are started at once from n goroutines; when every connection reports the
// same place, they saw the same commits. When they differ after
// lockFreeAttempts tries (heavy writes), commits are blocked for the few
// milliseconds it takes (BACKUP STAGE BLOCK_COMMIT, needs RELOAD).
//
// Without a binary log (full mode only) a single connection needs no
// lock, and several take their snapshots while commits are blocked.
//
// MySQL (untested here: no MySQL server on this machine): FLUSH TABLES
// WITH READ LOCK, read the binlog position and executed GTID set, start
// the snapshots, UNLOCK TABLES.
func takeSnapshot(ctx context.Context, db *sql.DB, flavor string, n int, needPos bool, log *slog.Logger) (*snapshot, error) {
	s := &snapshot{needPos: needPos}
	for range n {
		c, err := db.Conn(ctx)
		if err != nil {
			s.close()
			return nil, fmt.Errorf("snapshot: connect to source: %w", err)
		}
		s.conns = append(s.conns, c)
		for _, q := range dumpSession {
			if _, err := c.ExecContext(ctx, q); err != nil {
				s.close()
				return nil, fmt.Errorf("snapshot: %s: %w", q, err)
			}
		}
	}
	var err error
	if flavor == "mysql" {
		err = s.mysqlLocked(ctx)
	} else {
		err = s.mariadb(ctx, db, log)
	}
	if err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

// dumpSession is run on every dump connection.
var dumpSession = []string{
	"SET SESSION time_zone = '+00:00'",
	"SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ",
	// A reader waits while loaders are behind; the server must not drop it.
	"SET SESSION net_write_timeout = 3600",
	"SET SESSION net_read_timeout = 3600",
	"SET SESSION wait_timeout = 86400",
	"SET SESSION sql_quote_show_create = 1",
}

const startSnapshot = "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY"

func (s *snapshot) mariadb(ctx context.Context, db *sql.DB, log *slog.Logger) error {
	for attempt := 1; attempt <= lockFreeAttempts; attempt++ {
		pos := make([]Position, len(s.conns))
		errs := make([]error, len(s.conns))
		var wg sync.WaitGroup
		for i, c := range s.conns {
			wg.Go(func() {
				if _, errs[i] = c.ExecContext(ctx, startSnapshot); errs[i] == nil {
					pos[i], errs[i] = binlogSnapshotPos(ctx, c)
				}
			})
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			if errors.Is(err, errNoBinlog) && !s.needPos {
				if len(s.conns) == 1 {
					s.how = "no-binlog"
					return nil
				}
				for _, c := range s.conns {
					if _, err := c.ExecContext(ctx, "ROLLBACK"); err != nil {
						return fmt.Errorf("snapshot: %w", err)
					}
				}
				return s.mariadbBlockCommit(ctx, db)
			}
			return fmt.Errorf("snapshot: %w", err)
		}
		same := true
		for _, p := range pos[1:] {
			same = same && p == pos[0]
		}
		if same {
			s.pos, s.how = pos[0], "lock-free"
			return nil
		}
		for _, c := range s.conns {
			if _, err := c.ExecContext(ctx, "ROLLBACK"); err != nil {
				return fmt.Errorf("snapshot: %w", err)
			}
		}
		log.Debug("snapshot connections saw different binlog positions; retrying", "attempt", attempt)
	}
	return s.mariadbBlockCommit(ctx, db)
}

// unlockBound bounds the release of a snapshot lock on an error path, so
// that a unit asked to stop returns even when the source hangs (the lock
// dies with its connection, which is closed next).
const unlockBound = 3 * time.Second

// mariadbBlockCommit blocks commits (not writes) from a separate
// connection while the snapshots start, so that all see the same commits.
func (s *snapshot) mariadbBlockCommit(ctx context.Context, db *sql.DB) error {
	lock, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("snapshot: connect to source: %w", err)
	}
	defer lock.Close()
	if _, err := lock.ExecContext(ctx, "BACKUP STAGE START"); err != nil {
		return fmt.Errorf("snapshot: BACKUP STAGE START (needs the RELOAD privilege): %w", err)
	}
	defer func() { // bounded: a hung source must not hold a stopping unit; closing the connection ends the stage too
		ectx, cancel := context.WithTimeout(context.WithoutCancel(ctx), unlockBound)
		_, _ = lock.ExecContext(ectx, "BACKUP STAGE END") // the happy path ran it already and checked it
		cancel()
	}()
	if _, err := lock.ExecContext(ctx, "BACKUP STAGE BLOCK_COMMIT"); err != nil {
		return fmt.Errorf("snapshot: BACKUP STAGE BLOCK_COMMIT: %w", err)
	}
	for i, c := range s.conns {
		if _, err := c.ExecContext(ctx, startSnapshot); err != nil {
			return fmt.Errorf("snapshot: %w", err)
		}
		p, err := binlogSnapshotPos(ctx, c)
		if errors.Is(err, errNoBinlog) && !s.needPos {
			p, err = Position{}, nil
		}
		if err != nil {
			return err
		}
		if i > 0 && p != s.pos {
			return fmt.Errorf("snapshot: positions differ while commits are blocked (%s:%d, %s:%d)", s.pos.File, s.pos.Pos, p.File, p.Pos)
		}
		s.pos = p
	}
	if _, err := lock.ExecContext(ctx, "BACKUP STAGE END"); err != nil {
		return fmt.Errorf("snapshot: BACKUP STAGE END: %w", err)
	}
	s.how = "backup-stage"
	return nil
}

func binlogSnapshotPos(ctx context.Context, c *sql.Conn) (Position, error) {
	rows, err := c.QueryContext(ctx, "SHOW STATUS LIKE 'binlog_snapshot_%'")
	if err != nil {
		return Position{}, fmt.Errorf("snapshot: read binlog_snapshot_*: %w", err)
	}
	defer rows.Close()
	var p Position
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return Position{}, fmt.Errorf("snapshot: read binlog_snapshot_*: %w", err)
		}
		switch strings.ToLower(k) {
		case "binlog_snapshot_file":
			p.File = v
		case "binlog_snapshot_position":
			var n uint64
			if _, err := fmt.Sscan(v, &n); err != nil {
				return Position{}, fmt.Errorf("snapshot: binlog_snapshot_position %q: %w", v, err)
			}
			p.Pos = uint32(n)
		}
	}
	if err := rows.Err(); err != nil {
		return Position{}, fmt.Errorf("snapshot: read binlog_snapshot_*: %w", err)
	}
	if p.File == "" {
		return Position{}, Permanent(fmt.Errorf("snapshot: %w", errNoBinlog))
	}
	return p, nil
}

// resolveGTID fills in the GTID set at the snapshot's binlog position
// (MariaDB: takeSnapshot reads file and position only). BINLOG_GTID_POS
// scans the binlog file (about 0.5 s at 1 GB), so the dump runs it on a
// connection of its own while it plans the tables.
func (s *snapshot) resolveGTID(ctx context.Context, db *sql.DB, flavor string) error {
	if flavor == "mysql" || s.pos.File == "" || s.pos.GTID != "" {
		return nil
	}
	var g sql.NullString
	if err := db.QueryRowContext(ctx, "SELECT BINLOG_GTID_POS(?, ?)", s.pos.File, s.pos.Pos).Scan(&g); err != nil {
		return fmt.Errorf("snapshot: BINLOG_GTID_POS(%s, %d): %w", s.pos.File, s.pos.Pos, err)
	}
	if !g.Valid {
		return fmt.Errorf("snapshot: BINLOG_GTID_POS(%s, %d) is NULL", s.pos.File, s.pos.Pos)
	}
	s.pos.GTID = g.String
	return nil
}

// mysqlLocked takes the snapshots under FLUSH TABLES WITH READ LOCK.
// UNTESTED HERE: this machine has no MySQL server.
func (s *snapshot) mysqlLocked(ctx context.Context) error {
	c := s.conns[0]
	if _, err := c.ExecContext(ctx, "FLUSH TABLES WITH READ LOCK"); err != nil {
		return fmt.Errorf("snapshot: FLUSH TABLES WITH READ LOCK (needs the RELOAD privilege): %w", err)
	}
	defer func() { // bounded, as above; the happy path checks its own UNLOCK TABLES
		ectx, cancel := context.WithTimeout(context.WithoutCancel(ctx), unlockBound)
		_, _ = c.ExecContext(ectx, "UNLOCK TABLES")
		cancel()
	}()
	p, err := mysqlMasterStatus(ctx, c)
	if errors.Is(err, errNoBinlog) && !s.needPos {
		p, err = Position{}, nil
	}
	if err != nil {
		return err
	}
	for _, c := range s.conns {
		if _, err := c.ExecContext(ctx, "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY"); err != nil {
			return fmt.Errorf("snapshot: %w", err)
		}
	}
	if _, err := c.ExecContext(ctx, "UNLOCK TABLES"); err != nil {
		return fmt.Errorf("snapshot: UNLOCK TABLES: %w", err)
	}
	s.pos, s.how = p, "ftwrl"
	return nil
}

// mysqlMasterStatus reads file, position and executed GTID set (MySQL
// 8.4 renamed the statement to SHOW BINARY LOG STATUS).
func mysqlMasterStatus(ctx context.Context, c *sql.Conn) (Position, error) {
	for _, q := range []string{"SHOW BINARY LOG STATUS", "SHOW MASTER STATUS"} {
		rows, err := c.QueryContext(ctx, q)
		if err != nil {
			continue
		}
		cols, _ := rows.Columns()
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		var p Position
		if rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				rows.Close()
				return Position{}, fmt.Errorf("snapshot: %s: %w", q, err)
			}
			for i, name := range cols {
				switch strings.ToLower(name) {
				case "file":
					p.File = vals[i].String
				case "position":
					var n uint64
					fmt.Sscan(vals[i].String, &n)
					p.Pos = uint32(n)
				case "executed_gtid_set":
					p.GTID = strings.ReplaceAll(vals[i].String, "\n", "")
				}
			}
		}
		rows.Close()
		if p.File == "" {
			return Position{}, Permanent(fmt.Errorf("snapshot: %w", errNoBinlog))
		}
		return p, nil
	}
	return Position{}, errors.New("snapshot: neither SHOW BINARY LOG STATUS nor SHOW MASTER STATUS works")
}
