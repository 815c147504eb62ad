package units

import (
	"context"
	"crypto/tls"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"strings"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
)

// syncServerID is the server_id the binlog reader registers with: the
// configured one, or a stable hash of task/source in [2^30, 2^31), away
// from the small ids people give real servers. Two readers with one
// server_id kill each other's streams (ERROR 4052), so subtasks must not
// share one; the hash makes that unlikely and Config.ServerID settles it.
func syncServerID(cfg Config) uint32 {
	if cfg.ServerID != 0 {
		return cfg.ServerID
	}
	h := fnv.New32a()
	h.Write([]byte(cfg.Task))
	h.Write([]byte{0})
	h.Write([]byte(cfg.Source))
	return 1<<30 | h.Sum32()&(1<<30-1)
}

// binlogSyncer is go-mysql's syncer with a Close that stays bounded when
// the source has stopped answering (binlogDialer).
type binlogSyncer struct {
	*replication.BinlogSyncer
	dialer *binlogDialer
}

// Close stops the stream; it returns within a few seconds whatever the
// source does.
func (b *binlogSyncer) Close() {
	b.dialer.closing.Store(true)
	b.BinlogSyncer.Close()
}

// openBinlog starts streaming the source's binlog from p: from file:pos
// when p has a file, else from its GTID set.
// tc is the stream's TLS (nil: plain text; see binlogTLS).
func openBinlog(cfg Config, flavor string, p Position, tc *tls.Config, log *slog.Logger) (*binlogSyncer, *replication.BinlogStreamer, error) {
	dialer := &binlogDialer{}
	sc := replication.BinlogSyncerConfig{
		Dialer:                  dialer.dial, // keepalive, TCP user timeout, bounded handshakes (conn_net.go)
		TLSConfig:               tc,
		ServerID:                syncServerID(cfg),
		Flavor:                  flavor,
		Host:                    cfg.From.Host,
		Port:                    uint16(cfg.From.Port),
		User:                    cfg.From.User,
		Password:                cfg.From.Password,
		TimestampStringLocation: time.UTC,
		HeartbeatPeriod:         time.Second, // silence longer than streamSilence: the stream is dead (syncer.tick)
		DisableRetrySync:        true,        // the sync unit restarts from its checkpoint instead
		EventCacheCount:         4,           // more events wait in the reader queue, bounded by bytes (sync_budget.go)
		VerifyChecksum:          true,
		Logger:                  slog.New(warnOnly{log.Handler()}),
	}
	s := &binlogSyncer{replication.NewBinlogSyncer(sc), dialer}
	var st *replication.BinlogStreamer
	var err error
	if p.File != "" {
		st, err = s.StartSync(mysql.Position{Name: p.File, Pos: max(p.Pos, 4)})
	} else {
		var set mysql.GTIDSet
		set, err = mysql.ParseGTIDSet(flavor, p.GTID)
		if err == nil {
			st, err = s.StartSyncGTID(set)
		}
	}
	if err != nil {
		s.Close()
		if isTLSFailure(err) {
			return nil, nil, tlsError(cfg.From, err)
		}
		return nil, nil, fmt.Errorf("start binlog stream at %s: %w", describePos(p), err)
	}
	return s, st, nil
}

// binlogTLS is the TLS of the binlog stream from ep: its configured TLS,
// except that mode preferred follows what the SQL connection to the same
// server negotiated (go-mysql cannot fall back to plain text itself).
func binlogTLS(ctx context.Context, ep Endpoint, source *sql.DB) (*tls.Config, error) {
	tc, fallback, err := tlsConfig(ep)
	if err != nil || tc == nil || !fallback {
		return tc, err
	}
	on, err := sessionTLS(ctx, source)
	if err != nil || !on {
		return nil, err
	}
	return tc, nil
}

// streamSilence is how long the stream may stay silent: the source sends
// a heartbeat every second when it has nothing else. (go-mysql's
// ReadTimeout is not used: it would also fire while the reader waits for
// the appliers, which is backpressure, not silence; the link watch of
// link.go notices a silent source sooner.)
const streamSilence = 30 * time.Second

// warnOnly passes on go-mysql's warnings and errors, not its chatter.
type warnOnly struct{ slog.Handler }

func (h warnOnly) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelWarn && h.Handler.Enabled(ctx, l)
}

// Handle drops go-mysql's report that the connection it closes is gone
// already ("kill connection ... Unknown thread id"): not an error here.
func (h warnOnly) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == "kill connection" {
		return nil
	}
	return h.Handler.Handle(ctx, r)
}

func (h warnOnly) WithAttrs(as []slog.Attr) slog.Handler { return warnOnly{h.Handler.WithAttrs(as)} }

func (h warnOnly) WithGroup(name string) slog.Handler { return warnOnly{h.Handler.WithGroup(name)} }

func describePos(p Position) string {
	switch {
	case p.File != "" && p.GTID != "":
		return fmt.Sprintf("%s:%d (gtid %s)", p.File, p.Pos, p.GTID)
	case p.File != "":
		return fmt.Sprintf("%s:%d", p.File, p.Pos)
	case p.GTID != "":
		return "gtid " + p.GTID
	}
	return "(no position)"
}

// currentPosition reads where the source's binlog ends now.
func currentPosition(ctx context.Context, src *sql.DB, flavor string) (Position, error) {
	rows, err := src.QueryContext(ctx, "SHOW MASTER STATUS")
	if err != nil {
		if errno(err) == 1064 { // MySQL 8.4: SHOW BINARY LOG STATUS
			rows, err = src.QueryContext(ctx, "SHOW BINARY LOG STATUS")
		}
		if err != nil {
			return Position{}, fmt.Errorf("read source binlog position: %w", err)
		}
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return Position{}, fmt.Errorf("read source binlog position: %w", err)
	}
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return Position{}, fmt.Errorf("read source binlog position: %w", err)
		}
		return Position{}, Permanent(errors.New("read source binlog position: the binary log is off on the source: set log_bin (and binlog_format=ROW) and restart it"))
	}
	vals := make([]sql.NullString, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		return Position{}, fmt.Errorf("read source binlog position: %w", err)
	}
	var p Position
	for i, c := range cols {
		switch strings.ToLower(c) {
		case "file":
			p.File = vals[i].String
		case "position":
			var n uint32
			fmt.Sscan(vals[i].String, &n)
			p.Pos = n
		case "executed_gtid_set":
			p.GTID = strings.ReplaceAll(vals[i].String, "\n", "")
		}
	}
	rows.Close()
	if flavor == mysql.MariaDBFlavor {
		g, err := gtidAt(ctx, src, p)
		if err != nil {
			return Position{}, err
		}
		p.GTID = g
	}
	return p, nil
}

// gtidAt returns the MariaDB GTID set at a file:pos transaction boundary
// ("" when the server cannot tell).
func gtidAt(ctx context.Context, src *sql.DB, p Position) (string, error) {
	var g sql.NullString
	if err := src.QueryRowContext(ctx, "SELECT BINLOG_GTID_POS(?, ?)", p.File, p.Pos).Scan(&g); err != nil {
		return "", fmt.Errorf("read source GTID position at %s: %w", describePos(p), err)
	}
	return g.String, nil
}
