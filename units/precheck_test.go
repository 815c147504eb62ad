package units

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/dmplan/dmplan/internal/mariadbtest"
)

// TestPrecheckFailures collects every failure at once. (server_id = 0
// cannot be tested: MariaDB refuses it.)
func TestPrecheckFailures(t *testing.T) {
	t.Parallel() // its own servers (see parallel_test.go)
	s := mariadbtest.New(t, dlOptions(t, mariadbtest.Options{NoBinlog: true,
		Extra: []string{"binlog_format=STATEMENT", "binlog_row_image=MINIMAL"}}))
	db, err := s.DB("")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	dlExec(t, db, "CREATE DATABASE shop",
		"CREATE USER 'lim'@'%' IDENTIFIED BY 'secret-pw'", "GRANT SELECT ON shop.* TO 'lim'@'%'")
	ep := Endpoint{Host: "127.0.0.1", Port: s.Port, User: "lim", Password: "secret-pw"}
	err = precheck(context.Background(), Config{Task: "t", Source: "s", From: ep, To: ep, Tables: []string{"shop.*"}})
	var pe *precheckError
	if !errors.As(err, &pe) || !errors.Is(err, errPrecheck) || !errors.Is(err, ErrPermanent) {
		t.Fatalf("Precheck = %v, want a permanent *precheckError", err)
	}
	msg := err.Error()
	for _, want := range []string{
		"log_bin=OFF): add log-bin=mysql-bin",
		"binlog_format is STATEMENT, sync needs ROW: SET GLOBAL binlog_format = 'ROW'",
		"binlog_row_image is MINIMAL, sync needs FULL: SET GLOBAL binlog_row_image = 'FULL'",
		"user 'lim'@'%' lacks LOCK TABLES, SHOW VIEW, RELOAD, REPLICATION SLAVE, BINLOG MONITOR",
		"GRANT LOCK TABLES, SHOW VIEW, RELOAD, REPLICATION SLAVE, BINLOG MONITOR ON *.* TO 'lim'@'%';",
		"cannot create dmplan_meta",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("precheck error lacks %q:\n%s", want, msg)
		}
	}
	if len(pe.Failures) != 5 || strings.Contains(msg, "secret-pw") {
		t.Errorf("%d failures (want 5), or the password leaked:\n%s", len(pe.Failures), msg)
	}
}

// TestFullModeWithoutBinlog: full mode needs no binary log, neither in
// Precheck nor in the snapshot (several readers then block commits).
func TestFullModeWithoutBinlog(t *testing.T) {
	t.Parallel() // its own servers (see parallel_test.go)
	s := mariadbtest.New(t, dlOptions(t, mariadbtest.Options{NoBinlog: true}))
	db, err := s.DB("")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	dlExec(t, db, "CREATE DATABASE shop", "CREATE TABLE shop.t (id INT AUTO_INCREMENT PRIMARY KEY, v INT)",
		"INSERT INTO shop.t SELECT seq, seq FROM mysql.seq_1_to_500",
		"CREATE USER 'lim'@'%'", "GRANT SELECT ON shop.* TO 'lim'@'%'")
	root := Endpoint{Host: "127.0.0.1", Port: s.Port, User: "root"}
	cfg := Config{Task: "nobinlog", Source: "s", Mode: ModeFull, From: root, To: root, Tables: []string{"shop.t"},
		Routes: []Route{{From: "shop.t", To: "copy.t"}}}
	if err := precheck(context.Background(), cfg); err != nil {
		t.Fatalf("Precheck in full mode without a binlog: %v", err)
	}
	pos, err := DumpLoadWith(context.Background(), cfg, DumpLoadOptions{Readers: 2, ChunkRows: 100}, nil, dlLog(t))
	if err != nil {
		t.Fatal(err)
	}
	if !pos.IsZero() {
		t.Errorf("position %+v without a binlog", pos)
	}
	if a, b := dlDigest(t, db, "shop.t"), dlDigest(t, db, "copy.t"); a != b {
		t.Errorf("copy: source %s, target %s", a, b)
	}
	// One AUTO_INCREMENT table, fewer tables than loaders: INSERT (its
	// LOAD DATA statements would take turns on the AUTO-INC lock).
	d := &dumper{target: db, opts: &DumpLoadOptions{Loaders: 4}}
	def, err := readTable(context.Background(), db, "shop", "t")
	if err != nil {
		t.Fatal(err)
	}
	j := newTableJob(def, tableRef{"copy", "t"}, "mariadb")
	if m := d.pickMethods(context.Background(), []*tableJob{j}); m != MethodLoadData || j.method != MethodInsert {
		t.Errorf("pickMethods: default %s, table %s; want load-data, insert", m, j.method)
	}
	d.opts.Loaders = 1
	if d.pickMethods(context.Background(), []*tableJob{j}); j.method != MethodLoadData {
		t.Errorf("pickMethods with one loader: %s, want load-data", j.method)
	}
	lim := cfg
	lim.From.User, lim.Mode = "lim", ModeIncremental
	err = precheck(context.Background(), lim)
	if err == nil || strings.Contains(err.Error(), "LOCK TABLES") || !strings.Contains(err.Error(), "lacks REPLICATION SLAVE, BINLOG MONITOR (sync needs") {
		t.Errorf("incremental Precheck with a SELECT-only user: %v", err)
	}
}
