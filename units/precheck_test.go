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
	err = Precheck(context.Background(), Config{Task: "t", Source: "s", From: ep, To: ep, Tables: []string{"shop.*"}})
	var pe *PrecheckError
	if !errors.As(err, &pe) || !errors.Is(err, ErrPrecheck) || !errors.Is(err, ErrPermanent) {
		t.Fatalf("Precheck = %v, want a permanent *PrecheckError", err)
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
