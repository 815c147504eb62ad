package store_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/dmplan/dmplan/internal/etcdserver"
	"github.com/dmplan/dmplan/internal/etcdserver/etcdtest"
	"github.com/dmplan/dmplan/internal/golden"
	"github.com/dmplan/dmplan/internal/store"
	"github.com/dmplan/dmplan/planner"
	"github.com/dmplan/dmplan/spec"
	clientv3 "go.etcd.io/etcd/client/v3"
)

const (
	keyspaceDoc = "../../docs/keyspace.md"
	docBegin    = "<!-- BEGIN example: written by internal/store TestKeyspaceExample -update -->\n"
	docEnd      = "<!-- END example -->\n"
)

// exampleState is the small desired state of the keyspace example.
func exampleState(stage spec.Stage, h *spec.Hasher) planner.State {
	src := func(name, worker string) spec.Source {
		return spec.Source{Name: name, Flavor: spec.FlavorMariaDB, Worker: worker, Endpoint: spec.Endpoint{
			Host: "127.0.0.1", Port: 3306, User: "dmplan",
			Password: spec.Secret{Ref: "SOURCE_PASSWORD", Digest: h.Digest("SOURCE_PASSWORD", "example-password")},
		}}
	}
	return planner.State{
		Sources: map[string]spec.Source{"mysql-01": src("mysql-01", ""), "mysql-02": src("mysql-02", "agent-b")},
		Tasks: map[string]spec.Task{"shop": {
			Name: "shop", Mode: spec.ModeAll, Stage: stage,
			Target:  spec.Endpoint{Host: "127.0.0.1", Port: 4000, User: "root", Password: spec.Secret{Ref: "TARGET_PASSWORD", Digest: h.Digest("TARGET_PASSWORD", "example-target")}},
			Sources: []string{"mysql-01", "mysql-02"},
			Tables:  []string{"shop.*", "!shop.tmp_*"},
			Routes:  []spec.Route{{From: "shop_*.orders_*", To: "shop.orders"}},
			Dump:    spec.DumpConfig{Threads: 4},
			Sync:    spec.SyncConfig{Workers: 8, Batch: 100},
		}},
	}
}

// TestKeyspaceExample applies two plans made by planner.Diff on a server
// of its own (so revisions are the same every run), then dumps every key
// with its value: the example in docs/keyspace.md. It also checks that
// planning again after an apply finds no changes.
func TestKeyspaceExample(t *testing.T) {
	d := etcdtest.Start(t, etcdserver.Config{})
	s, ctx := store.New(d.Client), testCtx(t)
	// A fixed installation salt, so that the example's digests are the
	// same every run (a real one is 32 random bytes).
	if _, err := d.Client.Put(ctx, store.KeyInstall, `{"salt":"ZXhhbXBsZS1pbnN0YWxsYXRpb24tc2FsdC0zMmJ5dGU="}`); err != nil {
		t.Fatal(err)
	}
	h, err := s.Hasher(ctx)
	if err != nil {
		t.Fatal(err)
	}
	lease, err := d.Client.Grant(ctx, 60)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []planner.Worker{{Name: "agent-a", Address: "127.0.0.1:8261"}, {Name: "agent-b", Address: "127.0.0.1:8262"}} {
		if err := s.RegisterWorker(ctx, w, lease.ID); err != nil {
			t.Fatal(err)
		}
	}
	// The first apply is staged (as a large one would be), the second
	// (a pause: one task key) written with the commit.
	var staging []*kvPair
	store.SetDirectMax(s, 0)
	store.SetStageHook(s, func(chunk int) {
		if chunk == 0 && staging == nil {
			staging = append(dumpKeys(t, d.Client, store.PfxOpen), dumpKeys(t, d.Client, store.PfxStaging)...)
		}
	})
	for _, stage := range []spec.Stage{spec.StageRunning, spec.StagePaused} {
		snap, err := s.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		p := planner.Diff(exampleState(stage, h), snap.State, snap.Workers)
		p.BaseRevision = snap.Revision
		rec := record("alice")
		rec.Time = rec.Time.Add(time.Duration(snap.Head.Seq) * time.Hour)
		if _, err := s.Apply(ctx, p, rec); err != nil {
			t.Fatal(err)
		}
		store.SetDirectMax(s, store.DefaultDirectMax)
		after, err := s.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if again := planner.Diff(exampleState(stage, h), after.State, after.Workers); again.HasChanges() {
			t.Errorf("plan after apply has changes: %+v", again.Changes)
		}
	}
	applied := exampleState(spec.StagePaused, h)
	src := applied.Sources["mysql-01"]
	if err := s.PutStatus(ctx, lease.ID, store.SubtaskStatus{
		Task: "shop", Source: "mysql-01", Worker: "agent-a", Stage: spec.StagePaused, Unit: "sync",
		Progress:   store.Progress{TablesDone: 12, TablesTotal: 12, RowsDone: 1048576, RowsTotal: 1048576, Bytes: 201326592},
		BinlogFile: "mysql-bin.000003", BinlogPos: 4711, GTID: "0-1-1234", LagSeconds: 0.8,
		ConfigFingerprint: planner.ConfigFingerprint(planner.SubtaskOf(applied.Tasks["shop"], "mysql-01"), &src),
		UpdatedAt:         record("").Time.Add(3 * time.Hour),
	}); err != nil {
		t.Fatal(err)
	}

	var buf bytes.Buffer
	for _, kv := range append(dumpKeys(t, d.Client, store.Prefix), staging...) {
		var pretty bytes.Buffer
		if err := json.Indent(&pretty, kv.val, "", "  "); err != nil {
			pretty.Write(kv.val)
		}
		fmt.Fprintf(&buf, "%s\n%s\n\n", kv.key, pretty.Bytes())
	}
	got := regexp.MustCompile(`"lease": \d+`).ReplaceAllString(buf.String(), `"lease": 7587892307654321000`)
	if strings.Contains(got, "example-password") || strings.Contains(got, "example-target") {
		t.Fatal("a password value reached etcd")
	}
	golden.Check(t, "store/keyspace.txt", []byte(got))
	checkDocExample(t, got)
}

type kvPair struct {
	key string
	val []byte
}

func dumpKeys(t testing.TB, cli *clientv3.Client, p string) []*kvPair {
	resp, err := cli.Get(context.Background(), p, clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByKey, clientv3.SortAscend))
	if err != nil {
		t.Error(err)
		return nil
	}
	var out []*kvPair
	for _, kv := range resp.Kvs {
		out = append(out, &kvPair{string(kv.Key), kv.Value})
	}
	return out
}

// checkDocExample keeps the example in docs/keyspace.md equal to the
// golden dump.
func checkDocExample(t *testing.T, example string) {
	t.Helper()
	doc, err := os.ReadFile(keyspaceDoc)
	if err != nil {
		t.Fatal(err)
	}
	text := string(doc)
	i, j := strings.Index(text, docBegin), strings.Index(text, docEnd)
	if i < 0 || j < i {
		t.Fatalf("%s lacks the example markers %q ... %q", keyspaceDoc, docBegin, docEnd)
	}
	block := "```\n" + example + "```\n"
	if text[i+len(docBegin):j] == block {
		return
	}
	if !golden.Update() {
		t.Errorf("the example in %s is out of date: run go test ./internal/store -update", keyspaceDoc)
		return
	}
	text = text[:i+len(docBegin)] + block + text[j:]
	if err := os.WriteFile(keyspaceDoc, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}
