package mariadbtest

import (
	"context"
	"testing"
)

func TestStartRestart(t *testing.T) {
	s := New(t, Options{})
	db, err := s.DB("")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var format string
	if err := db.QueryRow("SELECT @@binlog_format").Scan(&format); err != nil {
		t.Fatal(err)
	}
	if format != "ROW" {
		t.Fatalf("binlog_format = %q, want ROW", format)
	}
	if _, err := db.Exec("CREATE DATABASE d; CREATE TABLE d.t (id INT PRIMARY KEY); INSERT INTO d.t VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	if err := s.Restart(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.QueryRow("SELECT COUNT(*) FROM d.t").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("rows after crash restart = %d, want 1", n)
	}
}
