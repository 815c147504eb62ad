package mariadbtest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/go-sql-driver/mysql"
)

// Options configure a server. The zero value is a binlog-enabled source
// (ROW format, FULL row image) with utf8mb4 defaults.
type Options struct {
	// ServerID must differ between servers that replicate. 0 picks one.
	ServerID uint32
	// NoBinlog turns the binary log off (a plain target).
	NoBinlog bool
	// Extra lines for the [mariadbd] section, e.g. "binlog_format=STATEMENT".
	Extra []string
	// Port to listen on; 0 picks a free one.
	Port int
	// DebianDefaults leaves the server as Debian's mariadb-server package
	// configures it (/etc/mysql/mariadb.conf.d/50-server.cnf minus its
	// paths: character set and collation, bind-address, expire_logs_days)
	// instead of the tuning tests rely on (no 256 MB redo log, no
	// innodb_flush_log_at_trx_commit=2, no skip-name-resolve): MariaDB's
	// compiled defaults for everything else. Benchmarks use it to measure
	// what a user gets.
	DebianDefaults bool
}

// Server is one running mariadbd.
type Server struct {
	Dir    string
	Port   int
	Socket string
	opts   Options
	cmd    *exec.Cmd
	exited chan struct{}
}

var nextID atomic.Uint32

// Available reports whether the MariaDB binaries are installed.
func Available() bool {
	_, err1 := exec.LookPath("mariadbd")
	_, err2 := exec.LookPath("mariadb-install-db")
	return err1 == nil && err2 == nil
}

// Start initialises a data directory under dir and starts mariadbd on
// 127.0.0.1. It returns once the server answers.
func Start(ctx context.Context, dir string, opts Options) (*Server, error) {
	if !Available() {
		return nil, errors.New("mariadbtest: mariadbd/mariadb-install-db not found: install Debian's mariadb-server package (scripts/test.sh does)")
	}
	if opts.ServerID == 0 {
		opts.ServerID = 100 + nextID.Add(1) + uint32(os.Getpid()%1000)*10
	}
	if opts.Port == 0 {
		p, err := FreePort()
		if err != nil {
			return nil, err
		}
		opts.Port = p
	}
	// A short socket path: unix sockets are limited to ~107 bytes.
	s := &Server{Dir: dir, Port: opts.Port, opts: opts}
	s.Socket = filepath.Join(os.TempDir(), fmt.Sprintf("dmplan-mdb-%d.sock", opts.Port))
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(s.cnf(), []byte(s.config()), 0o644); err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(dir, "data", "mysql")); err != nil {
		if err := s.initData(ctx); err != nil {
			return nil, err
		}
	}
	if err := s.start(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Server) cnf() string { return filepath.Join(s.Dir, "my.cnf") }

// installDB initialises the server's data directory with mariadb-install-db.
func (s *Server) installDB(ctx context.Context) error {
	out, err := exec.CommandContext(ctx, "mariadb-install-db", "--defaults-file="+s.cnf(), "--user=root",
		"--auth-root-authentication-method=normal", "--skip-test-db").CombinedOutput()
	if err != nil {
		return fmt.Errorf("mariadb-install-db in %s: %w\n%s", s.Dir, err, out)
	}
	return nil
}

func (s *Server) config() string {
	lines := []string{
		"[mariadbd]",
		"user=root",
		"datadir=" + filepath.Join(s.Dir, "data"),
		"port=" + strconv.Itoa(s.Port),
		"bind-address=127.0.0.1",
		"socket=" + s.Socket,
		"pid-file=" + filepath.Join(s.Dir, "mariadbd.pid"),
		"log-error=" + filepath.Join(s.Dir, "error.log"),
		"server_id=" + strconv.FormatUint(uint64(s.opts.ServerID), 10),
		"character-set-server=utf8mb4",
		"collation-server=utf8mb4_general_ci",
		// A private tmpdir: every mariadbd deletes the "#sql*" files in its
		// tmpdir at start, so servers sharing /tmp break each other.
		"tmpdir=" + filepath.Join(s.Dir, "tmp"),
	}
	if s.opts.DebianDefaults {
		lines = append(lines, "expire_logs_days=10")
	} else {
		lines = append(lines,
			"skip-name-resolve",
			"innodb_buffer_pool_size=256M",
			"innodb_log_file_size=256M",
			"innodb_flush_log_at_trx_commit=2",
			"sync_binlog=0",
			"max_connections=500",
			"max_allowed_packet=64M",
			"local_infile=ON",
		)
	}
	if !s.opts.NoBinlog {
		lines = append(lines,
			"log-bin="+filepath.Join(s.Dir, "data", "mysql-bin"),
			"binlog_format=ROW",
			"binlog_row_image=FULL",
		)
	}
	lines = append(lines, s.opts.Extra...)
	return strings.Join(lines, "\n") + "\n"
}

func (s *Server) start(ctx context.Context) error {
	cmd := exec.Command("mariadbd", "--defaults-file="+s.cnf())
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start mariadbd in %s: %w", s.Dir, err)
	}
	s.cmd = cmd
	s.exited = make(chan struct{})
	go func() { _ = cmd.Wait(); close(s.exited) }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		db, err := sql.Open("mysql", s.DSN(""))
		if err == nil {
			err = db.PingContext(ctx)
			db.Close()
		}
		if err == nil {
			return nil
		}
		select {
		case <-s.exited:
			log, _ := os.ReadFile(filepath.Join(s.Dir, "error.log"))
			return fmt.Errorf("mariadbd in %s exited at start:\n%s", s.Dir, tail(string(log), 2000))
		case <-ctx.Done():
			s.Kill()
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.Kill()
			return fmt.Errorf("mariadbd in %s: not ready after 60s: %v", s.Dir, err)
		}
	}
}

// Addr is "127.0.0.1:PORT".
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port)) }

// DSN is a go-sql-driver/mysql DSN for root over TCP, with db selected when
// not empty.
func (s *Server) DSN(db string) string {
	c := mysql.NewConfig()
	c.User = "root"
	c.Net = "tcp"
	c.Addr = s.Addr()
	c.DBName = db
	c.ParseTime = false
	c.AllowNativePasswords = true
	c.MultiStatements = true
	c.Params = map[string]string{"charset": "utf8mb4"}
	return c.FormatDSN()
}

// DB opens a pool to the server.
func (s *Server) DB(db string) (*sql.DB, error) { return sql.Open("mysql", s.DSN(db)) }

// Stop shuts the server down cleanly (SIGTERM) and waits for it.
func (s *Server) Stop() error {
	if s.cmd == nil {
		return nil
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(60 * time.Second):
		s.Kill()
	}
	s.cmd = nil
	return nil
}

// Kill stops the server with SIGKILL, as a crash would.
func (s *Server) Kill() {
	if s.cmd == nil {
		return
	}
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	<-s.exited
	s.cmd = nil
}

// Restart stops the server (cleanly unless crash) and starts it again on
// the same port and data directory.
func (s *Server) Restart(ctx context.Context, crash bool) error {
	if crash {
		s.Kill()
	} else if err := s.Stop(); err != nil {
		return err
	}
	return s.start(ctx)
}

// FreePort returns a TCP port on 127.0.0.1 that nothing listens on, for a
// server started later. It is drawn at random from below the kernel's
// ephemeral range (net.ipv4.ip_local_port_range): a port from inside it, as
// Listen(":0") gives, can be taken meanwhile as the local port of any
// outgoing connection of the suite's many clients, and the server's bind
// then fails (seen in CI: "bind: address already in use").
func FreePort() (int, error) {
	lo, hi := 10000, 32767
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if eph, err := strconv.Atoi(f[0]); err == nil && eph > lo+1000 {
				hi = eph - 1
			}
		}
	}
	var last error
	for range 100 {
		p := lo + rand.IntN(hi-lo+1)
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			last = err
			continue
		}
		l.Close()
		return p, nil
	}
	return 0, fmt.Errorf("no free port in %d-%d after 100 tries: %w", lo, hi, last)
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// StartAgain starts a server that Stop or Kill stopped, on the same port
// and data directory.
func (s *Server) StartAgain(ctx context.Context) error {
	if s.cmd != nil {
		return fmt.Errorf("mariadb on %s: already running", s.Addr())
	}
	return s.start(ctx)
}
