package mariadbtest

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"testing"
)

// CommitStorm is the load under which a snapshot's binlog position is
// tested: 8 sessions insert into table (an AUTO_INCREMENT-only table)
// without pause, one commit per row, and 4 sessions read SHOW STATUS LIKE
// 'binlog_snapshot_%' without pause, two of them holding a consistent
// snapshot of their own (what a monitoring agent or another dump does to
// MariaDB's process-wide binlog_snapshot variables). It returns the GTID
// sequence number of the server's binlog before the first insert (so the
// n-th insert committed is base+n) and a stop function, also called at
// cleanup. db needs room for 12 connections.
func CommitStorm(t testing.TB, db *sql.DB, table string) (base int64, stop func()) {
	t.Helper()
	var g string
	if err := db.QueryRow("SELECT @@gtid_binlog_pos").Scan(&g); err != nil {
		t.Fatal(err)
	}
	base, err := GTIDSeq(g)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for ctx.Err() == nil {
				db.ExecContext(ctx, "INSERT INTO "+table+" VALUES ()")
			}
		})
	}
	for _, snap := range []bool{false, true, false, true} {
		wg.Go(func() {
			c, err := db.Conn(ctx)
			if err != nil {
				return
			}
			defer c.Close()
			if snap {
				c.ExecContext(ctx, "START TRANSACTION WITH CONSISTENT SNAPSHOT")
			}
			for ctx.Err() == nil {
				if rows, err := c.QueryContext(ctx, "SHOW STATUS LIKE 'binlog_snapshot_%'"); err == nil {
					rows.Close()
				}
			}
		})
	}
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); wg.Wait() }) }
	t.Cleanup(stop)
	return base, stop
}

// GTIDSeq is the sequence number of a single-domain MariaDB GTID position
// such as 0-1-42.
func GTIDSeq(gtid string) (int64, error) {
	var domain, server, seq int64
	if _, err := fmt.Sscanf(gtid, "%d-%d-%d", &domain, &server, &seq); err != nil {
		return 0, fmt.Errorf("GTID %q: %w", gtid, err)
	}
	return seq, nil
}
