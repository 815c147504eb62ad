package units

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"
)

// The subtask lock fences two runs of one subtask (docs/units.md,
// "Two runs of one subtask"):
//
//   - A run holds GET_LOCK('dmplan/<task>/<source>') on a connection of its
//     own for as long as it writes. That session's wait_timeout (and net
//     read/write timeouts) is FenceBound, and the run touches it every
//     second (lockPing), so the server drops the session, and with it the
//     lock, at most FenceBound after the run's process stops being
//     scheduled (SIGSTOP, a frozen VM) or its network is cut. The default
//     wait_timeout would keep it for 8 hours.
//   - A run waiting for the lock also kills a holder session the server
//     shows asleep for FenceBound or longer (a holder that did not bound
//     its session, e.g. an older dmplan).
//   - Every sync commit, every DDL sync applies and every loaded chunk's
//     commit is sent in one round trip behind a statement that fails
//     unless the lock is still held by this run's lock session
//     (fence.assertSQL). The server runs the two
//     back to back, so nothing of a run is committed once its lock
//     session is gone — in particular not by a run that was frozen for
//     longer than FenceBound and then resumed. While a sync or chunk
//     transaction is open its session's wait_timeout is FenceBound too, so
//     a frozen run's open transaction (and its row locks) goes with it.

// FenceBound bounds how long the subtask lock outlives a frozen or
// partitioned holder. A healthy holder touches its lock session every
// lockPing.
const FenceBound = 10 * time.Second

// lockPing is how often a holder checks, and so keeps alive, its lock.
const lockPing = time.Second

// errLockLost: the connection holding the subtask lock broke, or a commit
// found the lock no longer held by this run.
var errLockLost = errors.New("lost the subtask lock on the target")

// subtaskLockName is the GET_LOCK name of a subtask (at most 64 bytes).
func subtaskLockName(cfg Config) string {
	name := "dmplan/" + cfg.Task + "/" + cfg.Source
	if len(name) <= 64 {
		return name
	}
	sum := sha256.Sum256([]byte(cfg.Task + "\x00" + cfg.Source))
	return "dmplan/" + hex.EncodeToString(sum[:20])
}

// fence is a run's hold of its subtask lock: the lock and the target
// session that holds it.
type fence struct {
	name string
	conn int64 // CONNECTION_ID() of the lock session
}

// assertSQL is a statement that fails with ER_SUBQUERY_NO_1_ROW (1242)
// unless the lock is held by the run's lock session. Sent in the same
// round trip before a COMMIT or a DDL, it keeps them from running after
// the lock is gone (a multi-statement text stops at its first error).
// The zero fence asserts nothing.
func (f fence) assertSQL() string {
	if f.name == "" {
		return "DO 0"
	}
	q := []byte("SET @dmplan_fence=(SELECT 1 FROM (SELECT 1 UNION ALL SELECT 2) f WHERE NOT (IS_USED_LOCK(")
	q = appendQuoted(q, f.name)
	q = append(q, ") <=> "...)
	q = strconv.AppendInt(q, f.conn, 10)
	q = append(q, "))"...)
	return string(q)
}

// fenceErr turns the assertion's failure into errLockLost.
func fenceErr(err error) error {
	if errno(err) == 1242 {
		return fmt.Errorf("the subtask lock is no longer held by this run (another run took the subtask over): %w", errLockLost)
	}
	return err
}

// fenceTimeoutSQL bounds a session's idle time by FenceBound.
func fenceTimeoutSQL() string {
	return "SET SESSION wait_timeout=" + strconv.Itoa(int(FenceBound/time.Second))
}

// withSubtaskLock runs fn while holding the subtask's lock on the target;
// fn's context ends if the lock is lost.
func withSubtaskLock(ctx context.Context, target *sql.DB, cfg Config, log *slog.Logger, prog *syncProgress, fn func(context.Context, fence) error) error {
	name := subtaskLockName(cfg)
	conn, err := target.Conn(ctx)
	if err != nil {
		return fmt.Errorf("lock subtask %s/%s on the target %s: %w", cfg.Task, cfg.Source, cfg.To, err)
	}
	defer conn.Close()
	secs := int(FenceBound / time.Second)
	if _, err := conn.ExecContext(ctx, fmt.Sprintf("SET SESSION wait_timeout=%d, net_read_timeout=%d, net_write_timeout=%d", secs, secs, secs)); err != nil {
		return fmt.Errorf("lock subtask %s/%s on the target %s: bound the lock session: %w", cfg.Task, cfg.Source, cfg.To, err)
	}
	f := fence{name: name}
	if err := conn.QueryRowContext(ctx, "SELECT CONNECTION_ID()").Scan(&f.conn); err != nil {
		return fmt.Errorf("lock subtask %s/%s on the target %s: %w", cfg.Task, cfg.Source, cfg.To, err)
	}
	killFailed := false
	for waited := 0; ; waited++ {
		var got sql.NullInt64
		if err := conn.QueryRowContext(ctx, "SELECT GET_LOCK(?, 1)", name).Scan(&got); err != nil {
			return fmt.Errorf("lock subtask %s/%s on the target %s: %w", cfg.Task, cfg.Source, cfg.To, err)
		}
		if got.Valid && got.Int64 == 1 {
			break
		}
		if waited%30 == 0 {
			log.Info("waiting for another run of this subtask to stop (it holds the target lock)", "lock", name)
			prog.setErr("waiting for another run of this subtask to stop")
		}
		if err := killFrozenHolder(ctx, conn, name, log); err != nil && !killFailed && ctx.Err() == nil {
			killFailed = true
			log.Warn("could not check or end the session holding the subtask lock; waiting for the server to drop it", "lock", name, "err", err)
		}
	}
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		_, _ = conn.ExecContext(rctx, "DO RELEASE_LOCK(?)", name)
		cancel()
	}()
	lctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go func() {
		t := time.NewTicker(lockPing)
		defer t.Stop()
		for {
			select {
			case <-lctx.Done():
				return
			case <-t.C:
			}
			var mine sql.NullInt64
			err := conn.QueryRowContext(lctx, "SELECT IS_USED_LOCK(?) = CONNECTION_ID()", name).Scan(&mine)
			if lctx.Err() != nil {
				return
			}
			if err != nil || !mine.Valid || mine.Int64 != 1 {
				cancel(errLockLost)
				return
			}
		}
	}()
	err = fn(lctx, f)
	if errors.Is(context.Cause(lctx), errLockLost) && ctx.Err() == nil {
		return fmt.Errorf("subtask %s/%s: %w", cfg.Task, cfg.Source, errLockLost)
	}
	return err
}

// killFrozenHolder ends the session holding lock name when the server
// shows it asleep for FenceBound or longer: a live holder touches it every
// lockPing. Killing is safe even if the holder wakes at that instant: its
// commits assert the lock (fence.assertSQL).
func killFrozenHolder(ctx context.Context, conn *sql.Conn, name string, log *slog.Logger) error {
	var id, idle int64
	err := conn.QueryRowContext(ctx, `SELECT ID, TIME FROM INFORMATION_SCHEMA.PROCESSLIST
		WHERE ID = IS_USED_LOCK(?) AND COMMAND = 'Sleep'`, name).Scan(&id, &idle)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	if time.Duration(idle)*time.Second < FenceBound {
		return nil
	}
	if _, err := conn.ExecContext(ctx, "KILL CONNECTION "+strconv.FormatInt(id, 10)); err != nil && errno(err) != 1094 { // 1094: no such thread (gone meanwhile)
		return fmt.Errorf("kill the frozen holder (connection %d, idle %ds): %w", id, idle, err)
	}
	log.Warn("ended the target session of a frozen run of this subtask that held its lock", "lock", name, "connection", id, "idle_s", idle)
	return nil
}
