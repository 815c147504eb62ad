package units

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// A sync whose appliers cannot get on — a lock held on the target (LOCK
// TABLES, a long transaction, a metadata lock behind a DDL), a target that
// accepts connections but does not commit — waits, and MariaDB lets such a
// wait last lock_wait_timeout, a day by default. The stall watch makes it
// visible: while the loop that reads events and ticks is itself blocked
// (handing changes out to appliers that do not take them), it keeps the
// reported lag growing instead of frozen at the loop's last figure; and
// once changes have waited stallAfter with no commit and no move of the
// position (events of tables not selected move it), it reports
// (Progress.Err) and logs what the target's sessions of the subtask's user
// are doing. It clears what it said once commits resume.

// stallAfter is how long changes may wait with no commit on the target
// and no move of the position before the stall is reported.
const stallAfter = 20 * time.Second

// watchStall runs the stall watch until stop is called.
func (s *syncer) watchStall(ctx context.Context) (stop func()) {
	s.lastTick.Store(time.Now().UnixNano())
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		var said string
		var baseLag time.Duration
		commits, since := s.stats.commits.Load(), time.Now()
		var at Position
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			now := time.Now()
			pos, lag, msg := s.prog.get()
			if c := s.stats.commits.Load(); c != commits || pos != at {
				commits, at, since = c, pos, now // getting on: commits, or a position that moves
			}
			if stuck := now.Sub(time.Unix(0, s.lastTick.Load())); stuck < 2*time.Second {
				baseLag = lag // the loop's own figure
			} else {
				lag = baseLag + stuck
				s.prog.set(pos, lag)
			}
			if lag == 0 {
				since = now // nothing waits
			}
			idle := now.Sub(since) // changes waiting, no commit
			if idle < s.stallAfter() {
				if said != "" && msg == said {
					s.prog.setErr("")
				}
				said = ""
				continue
			}
			if said == "" || msg == said && idle/(10*time.Second) != (idle-time.Second)/(10*time.Second) {
				said = s.stallMessage(ctx, idle)
				s.prog.setErr(said)
				s.log.Warn("sync is not getting on", "err", said)
			}
		}
	}()
	return func() { cancel(); <-done }
}

func (s *syncer) stallAfter() time.Duration {
	if s.cfg.StallAfter > 0 {
		return s.cfg.StallAfter
	}
	return stallAfter
}

// stallMessage says that nothing was applied for stuck, and what the
// target's sessions of the subtask's user are doing.
func (s *syncer) stallMessage(ctx context.Context, stuck time.Duration) string {
	head := fmt.Sprintf("sync %s/%s: nothing applied to the target %s for %v", s.cfg.Task, s.cfg.Source, s.cfg.To, stuck.Round(time.Second))
	states, locked, err := targetSessions(ctx, s.target, s.cfg.To.User)
	switch {
	case err != nil || len(states) == 0:
		return head + ": SHOW PROCESSLIST on the target shows what its sessions wait for"
	case locked:
		return fmt.Sprintf("%s: its sessions there wait for a lock (%s); %s", head, strings.Join(states, ", "), lockAdvice)
	}
	return fmt.Sprintf("%s: its sessions there are busy (%s)", head, strings.Join(states, ", "))
}

const lockAdvice = "find what holds it with SHOW PROCESSLIST on the target (LOCK TABLES, FLUSH TABLES WITH READ LOCK, " +
	"a long transaction, a DDL): dmplan goes on by itself once it is released"

// targetSessions lists what the sessions of user on the target have been
// doing for 5 s or more, e.g. `"Waiting for table metadata lock" for 25 s`,
// the longest first, and whether one of them waits for a lock. Statement
// text is not read: it may hold values.
func targetSessions(ctx context.Context, db *sql.DB, user string) (states []string, locked bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	rows, err := db.QueryContext(ctx, `SELECT STATE, MAX(TIME) FROM information_schema.PROCESSLIST
		WHERE USER = ? AND COMMAND = 'Query' AND TIME >= 5 AND ID <> CONNECTION_ID() AND STATE <> ''
		GROUP BY STATE ORDER BY MAX(TIME) DESC LIMIT 3`, user)
	if err != nil {
		return nil, false, err
	}
	defer rows.Close()
	for rows.Next() {
		var state string
		var secs int64
		if err := rows.Scan(&state, &secs); err != nil {
			return nil, false, err
		}
		states = append(states, fmt.Sprintf("%q for %d s", state, secs))
		l := strings.ToLower(state)
		locked = locked || strings.Contains(l, "lock") || strings.HasPrefix(l, "waiting for")
	}
	return states, locked, rows.Err()
}
