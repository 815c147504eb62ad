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
	"time"
)

// snapshot is n source connections inside transactions that all see the
// same consistent snapshot, and the binlog position it corresponds to.
type snapshot struct {
	pos     Position
	conns   []*sql.Conn
	raws    []*rawQuerier // conns[i]'s chunk queries below the driver; nil where it cannot (conn_rawquery.go)
	how     string        // "backup-stage" or "ftwrl", for the log
	needPos bool          // false in full mode: a source without a binlog is fine
	blocked time.Duration // how long commits were blocked (MariaDB)
}

// errNoBinlog: the source has no binary log, so a snapshot has no position.
var errNoBinlog = errors.New("the source has no binary log: enable log_bin (add log-bin=mysql-bin to the server's config) and restart it")

func (s *snapshot) close() {
	for _, c := range s.conns {
		_, _ = c.ExecContext(context.Background(), "ROLLBACK")
		c.Close()
	}
}

// takeSnapshot opens n connections that share one snapshot. On MariaDB
// the position's GTID set is left to resolveGTID.
//
// MariaDB: while commits are blocked (BACKUP STAGE BLOCK_COMMIT, needs
// RELOAD; writes go on, their commits wait), the n connections run START
// TRANSACTION WITH CONSISTENT SNAPSHOT and the binlog position is read with
// SHOW MASTER STATUS: with no commit in progress, every snapshot sees
// exactly the commits before that position. Commits wait for the few
// milliseconds this takes (snapshot.blocked).
//
// The status variables binlog_snapshot_file/position are not used: MariaDB
// keeps them in process-wide variables that every SHOW STATUS of any
// session fills in and then reads, so a concurrent SHOW STATUS (another
// dump connection, another subtask's snapshot, a monitoring agent's SHOW
// GLOBAL STATUS) can hand a connection another session's position. Two
// connections that read the same position then held snapshots a commit
// apart, or a snapshot was given an older snapshot's position
// (TestSnapshotExactUnderCommits; docs/units.md, "How a copy runs").
//
// Full mode needs no binary log: the position is then zero.
//
// MySQL (untested here: no MySQL server on this machine): FLUSH TABLES
// WITH READ LOCK, read the binlog position and executed GTID set, start
// the snapshots, UNLOCK TABLES.
//
// With raws (no TLS on the source connections) each connection gets the
// rawQuerier its reader runs chunk queries with.
func takeSnapshot(ctx context.Context, db *sql.DB, flavor string, n int, needPos bool, raws *rawConns, log *slog.Logger) (*snapshot, error) {
	t0 := time.Now()
	s := &snapshot{needPos: needPos}
	// The connections are opened and set up at once (one after another:
	// 7-15 ms for 4 under load), and alongside them the one MariaDB's
	// commit block is held on.
	s.conns, s.raws = make([]*sql.Conn, n), make([]*rawQuerier, n)
	errs := make([]error, n+1)
	var lock *sql.Conn
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { s.conns[i], s.raws[i], errs[i] = dumpConn(ctx, db, raws) })
	}
	if flavor != "mysql" {
		wg.Go(func() {
			if lock, errs[n] = db.Conn(ctx); errs[n] != nil {
				errs[n] = fmt.Errorf("snapshot: connect to source: %w", errs[n])
			}
		})
	}
	wg.Wait()
	if lock != nil {
		defer lock.Close()
	}
	for i := len(s.conns) - 1; i >= 0; i-- {
		if s.conns[i] == nil {
			s.conns, s.raws = slices.Delete(s.conns, i, i+1), slices.Delete(s.raws, i, i+1)
		}
	}
	if err := errors.Join(errs...); err != nil {
		s.close()
		return nil, err
	}
	connected := time.Now()
	var err error
	if flavor == "mysql" {
		err = s.mysqlLocked(ctx)
	} else {
		err = s.mariadbBlockCommit(ctx, lock)
	}
	if err != nil {
		s.close()
		return nil, err
	}
	log.Debug("snapshot connections started", "method", s.how, "commits_blocked", s.blocked, "connect", connected.Sub(t0), "took", time.Since(t0))
	return s, nil
}

// dumpSession is run on every dump connection.
var dumpSession = []string{
	// A reader waits while loaders are behind; the server must not drop it.
	"SET SESSION time_zone = '+00:00', net_write_timeout = 3600, net_read_timeout = 3600, wait_timeout = 86400, sql_quote_show_create = 1",
	"SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ",
}

// dumpConn opens a source connection for a snapshot and sets its session
// up, with the rawQuerier for its chunk queries when raws has its
// connection (nil otherwise).
func dumpConn(ctx context.Context, db *sql.DB, raws *rawConns) (*sql.Conn, *rawQuerier, error) {
	c, err := db.Conn(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("snapshot: connect to source: %w", err)
	}
	for _, q := range dumpSession {
		if _, err := c.ExecContext(ctx, q); err != nil {
			c.Close()
			return nil, nil, fmt.Errorf("snapshot: %s: %w", q, err)
		}
	}
	rq, err := raws.querier(ctx, c)
	if err != nil {
		c.Close()
		return nil, nil, fmt.Errorf("snapshot: %w", err)
	}
	return c, rq, nil
}

const startSnapshot = "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY"

// unlockBound bounds the release of a snapshot lock on an error path, so
// that a unit asked to stop returns even when the source hangs (the lock
// dies with its connection, which is closed next).
const unlockBound = 3 * time.Second

// mariadbBlockCommit blocks commits (not writes) from a separate
// connection while the snapshots start, so that all see the same commits,
// and reads the binlog position they correspond to.
func (s *snapshot) mariadbBlockCommit(ctx context.Context, lock *sql.Conn) error {
	if _, err := lock.ExecContext(ctx, "BACKUP STAGE START"); err != nil {
		return fmt.Errorf("snapshot: BACKUP STAGE START (needs the RELOAD privilege): %w", err)
	}
	defer func() { // bounded: a hung source must not hold a stopping unit; closing the connection ends the stage too
		ectx, cancel := context.WithTimeout(context.WithoutCancel(ctx), unlockBound)
		_, _ = lock.ExecContext(ectx, "BACKUP STAGE END") // the happy path ran it already and checked it
		cancel()
	}()
	t0 := time.Now() // commits may wait from here: BLOCK_COMMIT waits for those in progress
	if _, err := lock.ExecContext(ctx, "BACKUP STAGE BLOCK_COMMIT"); err != nil {
		return fmt.Errorf("snapshot: BACKUP STAGE BLOCK_COMMIT: %w", err)
	}
	// Started at once: commits wait as briefly as possible.
	errs := make([]error, len(s.conns))
	var wg sync.WaitGroup
	for i, c := range s.conns {
		wg.Go(func() {
			if _, err := c.ExecContext(ctx, startSnapshot); err != nil {
				errs[i] = fmt.Errorf("snapshot: %w", err)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	p, err := masterStatus(ctx, lock, "SHOW MASTER STATUS", "SHOW BINLOG STATUS") // the latter: MariaDB's newer name
	if err != nil && !s.needPos {
		// Full mode: the position is for information only; a source
		// without a binary log (or a user without BINLOG MONITOR) has none.
		p, err = Position{}, nil
	}
	if err != nil {
		return err
	}
	if _, err := lock.ExecContext(ctx, "BACKUP STAGE END"); err != nil {
		return fmt.Errorf("snapshot: BACKUP STAGE END: %w", err)
	}
	s.blocked = time.Since(t0)
	s.pos, s.how = p, "backup-stage"
	return nil
}

// resolveGTID fills in the GTID set at the snapshot's binlog position
// (MariaDB: takeSnapshot reads file and position only). BINLOG_GTID_POS
// scans the binlog file (about 0.5 s at 1 GB), so the dump runs it on a
// connection of its own while it plans the tables. Full mode skips it:
// no sync starts from that position (a change of mode copies again from
// a new snapshot), and the loaders wait for the snapshot's record.
func (s *snapshot) resolveGTID(ctx context.Context, db *sql.DB, flavor string) error {
	if flavor == "mysql" || s.pos.File == "" || s.pos.GTID != "" || !s.needPos {
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
	p, err := masterStatus(ctx, c, "SHOW BINARY LOG STATUS", "SHOW MASTER STATUS")
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

// masterStatus reads file, position and (MySQL) executed GTID set with
// the first of queries the server knows (MySQL 8.4 renamed SHOW MASTER
// STATUS to SHOW BINARY LOG STATUS; MariaDB calls it SHOW BINLOG STATUS
// too).
func masterStatus(ctx context.Context, c *sql.Conn, queries ...string) (Position, error) {
	var errs []error
	for _, q := range queries {
		rows, err := c.QueryContext(ctx, q)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", q, err))
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
	return Position{}, fmt.Errorf("snapshot: read the binlog position (needs BINLOG MONITOR): %w", errors.Join(errs...))
}
