package units

import (
	"context"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/dmplan/dmplan/internal/mariadbtest"
)

// BenchmarkSnapshotUnderWrites measures how long a snapshot of n
// connections takes while sysbench oltp_write_only writes to the source,
// and how long commits wait meanwhile (blocked-ms, mean and max).
//
//	go test ./units -run '^$' -bench SnapshotUnderWrites -benchtime 100x
func BenchmarkSnapshotUnderWrites(b *testing.B) {
	s := mariadbtest.New(b, dlOptions(b, mariadbtest.Options{}))
	db, err := s.DB("")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	dlExec(b, db, "CREATE DATABASE sbtest")
	sb := func(ctx context.Context, args ...string) *exec.Cmd {
		return exec.CommandContext(ctx, "sysbench", append([]string{"oltp_write_only", "--db-driver=mysql", "--tables=4",
			"--table-size=10000", "--mysql-host=127.0.0.1", "--mysql-port=" + strconv.Itoa(s.Port), "--mysql-user=root",
			"--mysql-db=sbtest"}, args...)...)
	}
	if out, err := sb(context.Background(), "prepare").CombinedOutput(); err != nil {
		b.Fatalf("sysbench prepare: %v\n%s", err, out)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	load := sb(ctx, "--threads=4", "--time=600", "run")
	if err := load.Start(); err != nil {
		b.Fatal(err)
	}
	defer load.Wait()
	defer cancel()
	time.Sleep(time.Second)
	src, err := Open(Endpoint{Host: "127.0.0.1", Port: s.Port, User: "root"}, 8)
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	for _, n := range []int{2, 4} {
		b.Run("conns="+strconv.Itoa(n), func(b *testing.B) {
			var sum, most time.Duration
			for b.Loop() {
				snap, err := takeSnapshot(context.Background(), src, "mariadb", n, true, nil, dlLog(b))
				if err != nil {
					b.Fatal(err)
				}
				sum += snap.blocked
				most = max(most, snap.blocked)
				snap.close()
			}
			b.ReportMetric(float64(sum.Microseconds())/1000/float64(b.N), "blocked-ms")
			b.ReportMetric(float64(most.Microseconds())/1000, "max-blocked-ms")
		})
	}
}
