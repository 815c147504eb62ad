package units

import (
	"context"
	"database/sql"
	"errors"
	"testing"
	"time"

	"github.com/dmplan/dmplan/internal/mariadbtest"
)

// The subtask lock's fence, on one target server (fence.go).
func TestSubtaskLockFence(t *testing.T) {
	t.Parallel() // its own servers (see parallel_test.go)
	srv := syServer(t, mariadbtest.Options{NoBinlog: true})
	t.Run("CommitNeedsTheLock", func(t *testing.T) { testFenceCommitNeedsTheLock(t, srv) })
	t.Run("FrozenHolderIsEnded", func(t *testing.T) { testFrozenLockHolderIsEnded(t, srv) })
}

// A commit sent behind the fence lands while the run holds the subtask
// lock, and is refused — with nothing of its transaction kept — once the
// lock session is gone; the run's context then ends with errLockLost.
func testFenceCommitNeedsTheLock(t *testing.T, srv *mariadbtest.Server) {
	db, err := srv.DB("")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	syExec(t, db, "CREATE DATABASE fence", "CREATE TABLE fence.t (id INT PRIMARY KEY)")
	target, err := openSyncTarget(syEndpoint(srv), 4)
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	cfg := Config{Task: "fence", Source: "src"}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	err = withSubtaskLock(ctx, target, cfg, syLog(t), &syncProgress{}, func(ctx context.Context, f fence) error {
		conn, err := target.Conn(ctx)
		if err != nil {
			return err
		}
		defer conn.Close()
		commit := func(id string) error {
			if _, err := execMulti(ctx, conn, fenceTimeoutSQL()+";START TRANSACTION;INSERT INTO fence.t VALUES ("+id+")"); err != nil {
				return err
			}
			_, err := execMulti(ctx, conn, f.assertSQL()+";COMMIT;SET SESSION wait_timeout=DEFAULT")
			return fenceErr(err)
		}
		if err := commit("1"); err != nil {
			t.Fatalf("commit while holding the lock: %v", err)
		}
		// The server drops the lock session (as wait_timeout does for a
		// frozen run); this run's next commit must not land.
		if _, err := db.Exec("KILL CONNECTION ?", f.conn); err != nil {
			t.Fatal(err)
		}
		// KILL returns before the killed session has let its locks go:
		// until then the lock is still held, and a commit rightly lands
		// (seen once under CI load).
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			var holder sql.NullInt64
			if err := db.QueryRow("SELECT IS_USED_LOCK(?)", f.name).Scan(&holder); err != nil {
				t.Fatal(err)
			}
			if !holder.Valid || holder.Int64 != f.conn {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the killed lock session %d still holds %s after 10 s", f.conn, f.name)
			}
		}
		if err := commit("2"); !errors.Is(err, errLockLost) {
			t.Fatalf("commit after the lock session was killed: got %v, want errLockLost", err)
		}
		_ = conn.Raw(func(any) error { return driverBadConn }) // drop the open transaction
		select {
		case <-ctx.Done():
		case <-time.After(30 * time.Second):
			t.Fatal("the run's context did not end after its lock session was killed")
		}
		return ctx.Err()
	})
	if !errors.Is(err, errLockLost) {
		t.Fatalf("withSubtaskLock: got %v, want errLockLost", err)
	}
	var ids []int
	rows, err := db.Query("SELECT id FROM fence.t ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if len(ids) != 1 || ids[0] != 1 {
		t.Fatalf("rows in the target: %v, want only [1] (the commit made after the lock was lost must not land)", ids)
	}
}

// A holder of the subtask lock that went quiet (a frozen process whose
// session has the default wait_timeout of 8 hours) is ended by the next
// run within about FenceBound, and that run takes the lock.
func testFrozenLockHolderIsEnded(t *testing.T, srv *mariadbtest.Server) {
	target, err := openSyncTarget(syEndpoint(srv), 4)
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	cfg := Config{Task: "frozen", Source: "src"}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	holder, err := target.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	var got sql.NullInt64
	if err := holder.QueryRowContext(ctx, "SELECT GET_LOCK(?, 0)", subtaskLockName(cfg)).Scan(&got); err != nil || got.Int64 != 1 {
		t.Fatalf("GET_LOCK: %v %v", got, err)
	}
	began := time.Now()
	err = withSubtaskLock(ctx, target, cfg, syLog(t), &syncProgress{}, func(ctx context.Context, f fence) error {
		t.Logf("the waiting run took the lock %s after the holder went quiet (FenceBound %s)", time.Since(began).Round(100*time.Millisecond), FenceBound)
		var mine sql.NullInt64
		if err := target.QueryRowContext(ctx, "SELECT IS_USED_LOCK(?) <=> ?", f.name, f.conn).Scan(&mine); err != nil || mine.Int64 != 1 {
			t.Errorf("IS_USED_LOCK is not the run's session: %v %v", mine, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := holder.PingContext(ctx); err == nil {
		t.Fatal("the quiet holder's session is still alive")
	}
}
