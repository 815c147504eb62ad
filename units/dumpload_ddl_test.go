package units

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
)

// TestDumpLoadDDLDuringDump: a table altered on the source before any of
// its rows were loaded is created again on the target and loaded from a
// new snapshot; one altered after some of its chunks were loaded stops the
// load with a permanent error that says what to do.
func TestDumpLoadDDLDuringDump(t *testing.T) {
	t.Parallel() // its own servers (see parallel_test.go)
	p := newDLPair(t)
	dlExec(t, p.srcDB, "CREATE DATABASE ddl",
		"CREATE TABLE ddl.a (id INT PRIMARY KEY, v CHAR(50))",
		"INSERT INTO ddl.a SELECT seq, MD5(seq) FROM mysql.seq_1_to_30000",
		"CREATE TABLE ddl.b (id INT PRIMARY KEY, v INT)",
		"INSERT INTO ddl.b SELECT seq, seq FROM mysql.seq_1_to_3000")
	// ddl.a (the bigger) is read first: alter ddl.b while a loads.
	cfg := p.config("ddl", []string{"ddl.*"})
	opts := DumpLoadOptions{Readers: 1, Loaders: 1, ChunkRows: 1000, AttemptRetries: 3}
	var once sync.Once
	opts.afterChunk = func(uint32, *tableJob) {
		once.Do(func() { dlExec(t, p.srcDB, "ALTER TABLE ddl.b ADD COLUMN z INT NOT NULL DEFAULT 7, ALGORITHM=COPY") })
	}
	if _, err := DumpLoadWith(context.Background(), cfg, opts, nil, dlLog(t)); err != nil {
		t.Fatalf("DumpLoad with an ALTER TABLE during the dump: %v", err)
	}
	dlSame(t, p, "ddl.a", "ddl.b")

	// Now alter a table after some of its chunks are loaded.
	cfg = p.config("ddl2", []string{"ddl.b"}, Route{From: "ddl.b", To: "ddl2.b"})
	ctx, cancel := context.WithCancel(context.Background())
	opts = DumpLoadOptions{Loaders: 1, ChunkRows: 1000, afterChunk: func(uint32, *tableJob) { cancel() }}
	if _, err := DumpLoadWith(ctx, cfg, opts, nil, dlLog(t)); !errors.Is(err, context.Canceled) {
		t.Fatalf("first attempt: %v", err)
	}
	dlExec(t, p.srcDB, "ALTER TABLE ddl.b DROP COLUMN z")
	_, err := DumpLoadWith(context.Background(), cfg, DumpLoadOptions{}, nil, dlLog(t))
	if !errors.Is(err, ErrPermanent) || !strings.Contains(err.Error(), "`ddl`.`b` changed on the source") ||
		!strings.Contains(err.Error(), "DELETE FROM dmplan_meta.load_chunk") {
		t.Errorf("resume after an ALTER of a half-loaded table: %v", err)
	}
}
