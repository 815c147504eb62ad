package store_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"unsafe"

	"github.com/google/go-cmp/cmp"

	"github.com/dmplan/dmplan/internal/golden"
	"github.com/dmplan/dmplan/internal/store"
	"github.com/dmplan/dmplan/planner"
	"github.com/dmplan/dmplan/spec"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// ReadLike takes an object from like only when its stored value is the
// encoding of like's object: the state it returns is the state Read
// returns (go-cmp tells nil from empty), and so is every plan made from
// it. Each golden case of the planner is applied as its current state and
// read like its desired state, which shares most of its objects.
func TestReadLikeIsReadOnGoldenCases(t *testing.T) {
	ctx := testCtx(t)
	dirs, err := filepath.Glob(filepath.Join(golden.Path(t, "planner"), "*", "current.json"))
	if err != nil || len(dirs) < 12 {
		t.Fatalf("golden cases: %d, %v", len(dirs), err)
	}
	taken := 0
	for _, f := range dirs {
		dir := filepath.Dir(f)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var in struct {
				State        planner.State    `json:"state"`
				Workers      []planner.Worker `json:"workers"`
				BaseRevision int64            `json:"baseRevision"`
			}
			if err := json.Unmarshal(raw, &in); err != nil {
				t.Fatal(err)
			}
			desired := planner.State{}
			if _, err := os.Stat(filepath.Join(dir, "desired")); err == nil {
				set, err := spec.Load([]string{filepath.Join(dir, "desired")}, goldenGetenv)
				if err != nil {
					t.Fatal(err)
				}
				desired = planner.FromSpec(set)
			}
			st := fresh(t)
			if _, err := st.Apply(ctx, plan(0, in.State), record("alice")); err != nil {
				t.Fatal(err)
			}
			full, like := readBothWays(ctx, t, st, desired)
			taken += shared(like.State, desired)
			if a, b := render(t, desired, full.State, in.Workers), render(t, desired, like.State, in.Workers); a != b {
				t.Errorf("plan against Read:\n%s\nplan against ReadLike:\n%s", a, b)
			}
		})
	}
	if taken == 0 {
		t.Error("no object was taken from the desired state: the cases do not test ReadLike")
	}
	t.Logf("%d objects taken from the desired states", taken)
}

// What ReadLike decodes: a value that differs by one field, one whose
// stored form holds fields the desired object does not set (annotations,
// validation, and a field no version of dmplan knows), one the desired
// state does not hold; what it takes: values equal byte for byte. The
// state and the plan are Read's.
func TestReadLikeDecodesWhatDiffers(t *testing.T) {
	ctx := testCtx(t)
	st := fresh(t)
	stored := genState(3, 5, 4)
	withMore := stored.Tasks["task-00002"]
	withMore.Annotations = map[string]string{"team": "payments"}
	withMore.Validate = spec.ValidateConfig{Mode: spec.ValidateFast}
	stored.Tasks["task-00002"] = withMore
	if _, err := st.Apply(ctx, plan(0, stored), record("alice")); err != nil {
		t.Fatal(err)
	}
	// A field this build does not know, as a later version might write.
	resp, err := etcd.Client.Get(ctx, store.PfxTask+"task-00003/", clientv3.WithPrefix())
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("task-00003's version: %v, %v", resp, err)
	}
	unknown := append(bytes.TrimSuffix(resp.Kvs[0].Value, []byte("}")), []byte(`,"future":{"x":1}}`)...)
	if _, err := etcd.Client.Put(ctx, string(resp.Kvs[0].Key), string(unknown)); err != nil {
		t.Fatal(err)
	}

	desired := genState(3, 5, 4)
	oneField := desired.Tasks["task-00001"]
	oneField.Tables = append([]string{"extra.*"}, oneField.Tables...)
	desired.Tasks["task-00001"] = oneField
	src := desired.Sources["mysql-0001"]
	src.Port++
	desired.Sources["mysql-0001"] = src
	delete(desired.Tasks, "task-00004") // stored only
	desired.Tasks["task-00009"] = desired.Tasks["task-00000"]
	t9 := desired.Tasks["task-00009"]
	t9.Name = "task-00009" // desired only
	desired.Tasks["task-00009"] = t9

	full, like := readBothWays(ctx, t, st, desired)
	for name, want := range map[string]bool{"task-00000": true, "task-00001": false, "task-00002": false, "task-00003": false, "task-00004": false} {
		if got := sameTask(like.State.Tasks[name], desired.Tasks[name]); got != want {
			t.Errorf("task %s taken from like: %t, want %t", name, got, want)
		}
	}
	for name, want := range map[string]bool{"mysql-0000": true, "mysql-0001": false} {
		if got := unsafe.StringData(like.State.Sources[name].Name) == unsafe.StringData(desired.Sources[name].Name); got != want {
			t.Errorf("source %s taken from like: %t, want %t", name, got, want)
		}
	}
	a, b := render(t, desired, full.State, nil), render(t, desired, like.State, nil)
	if a != b {
		t.Errorf("plan against Read:\n%s\nplan against ReadLike:\n%s", a, b)
	}
	for _, want := range []string{"task.task-00001", "task.task-00002", "source.mysql-0001", "task.task-00004", "task.task-00009"} {
		if !bytes.Contains([]byte(a), []byte(want)) {
			t.Errorf("the plan does not show %s:\n%s", want, a)
		}
	}
	if bytes.Contains([]byte(a), []byte("task.task-00003")) {
		t.Errorf("the plan shows task-00003, whose stored value only adds a field dmplan does not know:\n%s", a)
	}

	// Every object equal: the maps are like's own.
	st = fresh(t)
	if _, err := st.Apply(ctx, plan(0, desired), record("alice")); err != nil {
		t.Fatal(err)
	}
	again, err := st.ReadLike(ctx, func() (*planner.State, error) { return &desired, nil })
	if err != nil {
		t.Fatal(err)
	}
	if reflect.ValueOf(again.State.Tasks).UnsafePointer() != reflect.ValueOf(desired.Tasks).UnsafePointer() ||
		reflect.ValueOf(again.State.Sources).UnsafePointer() != reflect.ValueOf(desired.Sources).UnsafePointer() {
		t.Error("every object is like's, but the maps are not")
	}
	reread, err := st.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(reread, again); d != "" {
		t.Fatalf("ReadLike differs from Read (-Read +ReadLike):\n%s", d)
	}

	// like's error ends the read.
	boom := errors.New("the desired state does not load")
	if _, err := st.ReadLike(ctx, func() (*planner.State, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Errorf("ReadLike with a failing like: %v, want %v", err, boom)
	}
}

// render is the text and JSON of the plan from current to desired.
func render(t *testing.T, desired, current planner.State, workers []planner.Worker) string {
	t.Helper()
	p := planner.DiffRewriting(desired, current, workers, planner.LegacyRewriter(spec.NewHasher(nil), goldenGetenv))
	var b bytes.Buffer
	if err := planner.RenderText(&b, p, planner.TextOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := planner.RenderJSON(&b, p); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// shared counts the objects of st that are like's own (not decoded).
func shared(st, like planner.State) int {
	n := 0
	for name, t := range st.Tasks {
		if sameTask(t, like.Tasks[name]) {
			n++
		}
	}
	for name, s := range st.Sources {
		if l, ok := like.Sources[name]; ok && unsafe.StringData(s.Name) == unsafe.StringData(l.Name) {
			n++
		}
	}
	return n
}

// sameTask reports whether a and b are one object (not equal copies).
func sameTask(a, b spec.Task) bool {
	return a.Name != "" && unsafe.StringData(a.Name) == unsafe.StringData(b.Name)
}

// goldenGetenv holds the passwords of the planner's golden cases.
func goldenGetenv(k string) (string, bool) {
	v, ok := map[string]string{
		"SOURCE_PASSWORD":  "source-pass-1",
		"MYSQL02_PASSWORD": "mysql02-pass-1",
		"TARGET_PASSWORD":  "target-pass-1",
		"REPLICA_PASSWORD": "replica-pass-1",
	}[k]
	return v, ok
}

// readBothWays reads st with Read and with ReadLike against desired, and
// fails unless the two snapshots are equal.
func readBothWays(ctx context.Context, t *testing.T, st *store.Store, desired planner.State) (full, like *store.Snapshot) {
	t.Helper()
	full, err := st.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	like, err = st.ReadLike(ctx, func() (*planner.State, error) { return &desired, nil })
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(full, like); d != "" {
		t.Fatalf("ReadLike differs from Read (-Read +ReadLike):\n%s", d)
	}
	return full, like
}
