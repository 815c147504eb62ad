package main

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"
)

// The target's ceiling: how fast the target server itself loads the same
// rows when nothing else runs: `SELECT … INTO OUTFILE` on the source
// before the runs (not timed), then, timed, server-side `LOAD DATA INFILE`
// of those files on -threads target connections, one statement per table.
// No client reads, encodes or sends anything; no checkpoint is written.
// A copy can only be slower than this, and the goal's ratio to
// mariadb-dump can be no better than this one's.

// writeCeilingFiles dumps every sbtest table to a tab-separated file.
func writeCeilingFiles(ctx context.Context, srcDB *sql.DB, dir string, tables int) (string, error) {
	out := filepath.Join(dir, "ceiling")
	if err := os.MkdirAll(out, 0o777); err != nil {
		return "", err
	}
	if err := os.Chmod(out, 0o777); err != nil { // written by the server's user
		return "", err
	}
	for i := range tables {
		f := filepath.Join(out, "sbtest"+strconv.Itoa(i+1)+".tsv")
		if _, err := srcDB.ExecContext(ctx, fmt.Sprintf("SELECT * FROM sbtest.sbtest%d INTO OUTFILE '%s' CHARACTER SET binary", i+1, f)); err != nil {
			return "", fmt.Errorf("write %s: %w", f, err)
		}
	}
	return out, nil
}

// ceilingLoad creates the tables in sbtest_ceiling from the source's
// definitions (not timed) and loads the files on f.threads connections.
func ceilingLoad(ctx context.Context, f flags, srcDB, dstDB *sql.DB, files string) (result, error) {
	if _, err := dstDB.ExecContext(ctx, "CREATE DATABASE sbtest_ceiling"); err != nil {
		return result{}, err
	}
	for i := range f.tables {
		var name, ddl string
		if err := srcDB.QueryRowContext(ctx, fmt.Sprintf("SHOW CREATE TABLE sbtest.sbtest%d", i+1)).Scan(&name, &ddl); err != nil {
			return result{}, err
		}
		if _, err := dstDB.ExecContext(ctx, "USE sbtest_ceiling; "+ddl); err != nil {
			return result{}, err
		}
	}
	next := make(chan int, f.tables)
	for i := range f.tables {
		next <- i + 1
	}
	close(next)
	errs := make([]error, f.threads)
	var wg sync.WaitGroup
	start := time.Now()
	for w := range f.threads {
		wg.Go(func() {
			for n := range next {
				file := filepath.Join(files, "sbtest"+strconv.Itoa(n)+".tsv")
				if _, err := dstDB.ExecContext(ctx, fmt.Sprintf("LOAD DATA INFILE '%s' INTO TABLE sbtest_ceiling.sbtest%d CHARACTER SET binary", file, n)); err != nil {
					errs[w] = fmt.Errorf("load %s: %w", file, err)
					return
				}
			}
		})
	}
	wg.Wait()
	s := time.Since(start).Seconds()
	for _, err := range errs {
		if err != nil {
			return result{}, err
		}
	}
	return result{name: fmt.Sprintf("target ceiling: LOAD DATA INFILE (%d conns)", f.threads), seconds: s,
		note: "(server-side files, no client, no checkpoints)"}, nil
}
