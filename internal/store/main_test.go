package store_test

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/dmplan/dmplan/internal/etcdserver"
	"github.com/dmplan/dmplan/internal/etcdserver/etcdtest"
	"github.com/dmplan/dmplan/internal/store"
	"github.com/dmplan/dmplan/planner"
	"github.com/dmplan/dmplan/spec"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// etcd is the package's embedded server (raised limits, as `dmplan server`
// runs it). Tests run one at a time and start from an empty keyspace.
var etcd *etcdtest.Server

func TestMain(m *testing.M) {
	flag.Parse()
	s, err := etcdtest.StartMain(etcdserver.Config{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	etcd = s
	code := m.Run()
	s.Stop()
	os.Exit(code)
}

// fresh empties the dmplan keyspace and returns a store on the package's
// server.
func fresh(t testing.TB, opts ...store.Option) *store.Store {
	t.Helper()
	if _, err := etcd.Client.Delete(context.Background(), store.Prefix, clientv3.WithPrefix()); err != nil {
		t.Fatal(err)
	}
	return store.New(etcd.Client, append([]store.Option{store.WithLogger(testLogger())}, opts...)...)
}

func testLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// genState builds a desired state of nSources sources and nTasks tasks,
// each task reading from up to three sources, sources bound to ten
// workers. mark is stamped into every task (Dump.Threads) and source
// (Port) so tests can tell states apart.
func genState(nSources, nTasks, mark int) planner.State {
	st := planner.State{Sources: map[string]spec.Source{}, Tasks: map[string]spec.Task{}, Bounds: map[string]string{}}
	for i := range nSources {
		name := fmt.Sprintf("mysql-%04d", i)
		st.Sources[name] = spec.Source{
			Name: name,
			Endpoint: spec.Endpoint{Host: "127.0.0.1", Port: 10000 + mark, User: "dmplan",
				Password: spec.Secret{Ref: "SOURCE_PASSWORD", Digest: sourceDigest}},
			Flavor: spec.FlavorMariaDB,
		}
		st.Bounds[name] = fmt.Sprintf("agent-%d", i%10)
	}
	for i := range nTasks {
		name := fmt.Sprintf("task-%05d", i)
		var srcs []string
		for j := range 1 + i%3 {
			if nSources > 0 {
				srcs = append(srcs, fmt.Sprintf("mysql-%04d", (i+j*7)%nSources))
			}
		}
		st.Tasks[name] = spec.Task{
			Name: name, Mode: spec.ModeAll, Stage: spec.StageRunning,
			Target:  spec.Endpoint{Host: "127.0.0.1", Port: 4000, User: "root", Password: spec.Secret{Ref: "TARGET_PASSWORD"}},
			Sources: dedupSorted(srcs),
			Tables:  []string{"shop.*", "!shop.tmp_*", fmt.Sprintf("db%d.*", i)},
			Routes:  []spec.Route{{From: "shop_*.orders_*", To: "shop.orders"}},
			Dump:    spec.DumpConfig{Threads: mark},
			Sync:    spec.SyncConfig{Workers: 8, Batch: 100},
		}
	}
	return st
}

// sourceDigest is what spec keeps of a source password: never the value.
var sourceDigest = spec.Digest("SOURCE_PASSWORD", "example-password")

func dedupSorted(in []string) []string {
	slices.Sort(in)
	return slices.Compact(in)
}

func plan(base int64, st planner.State) *planner.Plan {
	return &planner.Plan{FormatVersion: planner.FormatVersion, BaseRevision: base, Desired: st}
}

func record(user string) store.ApplyRecord {
	return store.ApplyRecord{
		Time: time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC), User: user, Host: "laptop", GitCommit: "abc123",
	}
}

// keyCount counts the keys under p.
func keyCount(t testing.TB, cli *clientv3.Client, p string) int64 {
	t.Helper()
	resp, err := cli.Get(context.Background(), p, clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		t.Fatal(err)
	}
	return resp.Count
}
