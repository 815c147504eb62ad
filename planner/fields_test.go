package planner

import (
	"reflect"
	"strings"
	"testing"

	"github.com/dmplan/dmplan/spec"
	"github.com/google/go-cmp/cmp"
)

func TestSecretFields(t *testing.T) {
	base := testSource("mysql-01")
	valueChanged := base
	valueChanged.Password.Digest = "pbkdf2-sha256$1$c2FsdA$b3RoZXI"
	refChanged := base
	refChanged.Password.Ref = "MYSQL01_PASSWORD"
	removed := base
	removed.Password = spec.Secret{}

	tests := []struct {
		name  string
		after spec.Source
		want  []FieldChange
	}{
		{"value changed, same reference", valueChanged, []FieldChange{{Path: "spec.password", Sensitive: true}}},
		{"reference changed", refChanged, []FieldChange{{Path: "spec.password", Before: "${SOURCE_PASSWORD}", After: "${MYSQL01_PASSWORD}"}}},
		{"password removed", removed, []FieldChange{{Path: "spec.password", Before: "${SOURCE_PASSWORD}"}}},
		{"unchanged", base, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := diffFields(sourceFields(base), sourceFields(tt.after))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			for _, f := range got {
				if strings.Contains(f.Before+f.After, "pbkdf2") {
					t.Errorf("field %s shows a digest", f.Path)
				}
			}
		})
	}
}

func TestDiffFieldsOrderWithOptionalFields(t *testing.T) {
	before := fields{list: []FieldChange{{Path: "a", After: "1"}, {Path: "b", After: "2"}, {Path: "d", After: "4"}}}
	after := fields{list: []FieldChange{{Path: "a", After: "1"}, {Path: "c", After: "3"}, {Path: "d", After: "5"}}}
	want := []FieldChange{{Path: "b", Before: "2"}, {Path: "c", After: "3"}, {Path: "d", Before: "4", After: "5"}}
	if diff := cmp.Diff(want, diffFields(before, after)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// mutateLeaves calls f with a copy of v in which one leaf field (reached
// through structs, slices, maps and pointers) was changed, once per leaf.
func mutateLeaves(t *testing.T, v any, f func(path string, changed any)) {
	t.Helper()
	var walk func(path string, root reflect.Value, get func(reflect.Value) reflect.Value)
	walk = func(path string, root reflect.Value, get func(reflect.Value) reflect.Value) {
		cur := get(root)
		switch cur.Kind() {
		case reflect.Struct:
			for i := range cur.NumField() {
				i := i
				walk(path+"."+cur.Type().Field(i).Name, root, func(r reflect.Value) reflect.Value { return get(r).Field(i) })
			}
			return
		}
		cp := deepCopy(root)
		leaf := get(cp)
		switch leaf.Kind() {
		case reflect.String:
			leaf.SetString(leaf.String() + "-x")
		case reflect.Int, reflect.Int64:
			leaf.SetInt(leaf.Int() + 1)
		case reflect.Uint32:
			leaf.SetUint(leaf.Uint() + 1)
		case reflect.Bool:
			leaf.SetBool(!leaf.Bool())
		case reflect.Slice:
			if leaf.Len() == 0 {
				t.Fatalf("%s: give the fixture a non-empty %s", path, leaf.Type())
			}
			leaf.Set(reflect.AppendSlice(leaf.Slice(0, leaf.Len()-1), reflect.MakeSlice(leaf.Type(), 0, 0)))
		case reflect.Map:
			leaf.Set(reflect.MakeMap(leaf.Type()))
		case reflect.Pointer:
			leaf.Set(reflect.Zero(leaf.Type()))
		default:
			t.Fatalf("%s: unhandled kind %s", path, leaf.Kind())
		}
		f(path, cp.Interface())
	}
	root := reflect.ValueOf(v)
	walk("", root, func(r reflect.Value) reflect.Value { return r })
}

// deepCopy copies a value through its JSON-free structure (slices and maps
// are duplicated, so that mutating the copy leaves the original alone).
func deepCopy(v reflect.Value) reflect.Value {
	out := reflect.New(v.Type()).Elem()
	var cp func(dst, src reflect.Value)
	cp = func(dst, src reflect.Value) {
		switch src.Kind() {
		case reflect.Struct:
			for i := range src.NumField() {
				cp(dst.Field(i), src.Field(i))
			}
		case reflect.Slice:
			if src.IsNil() {
				return
			}
			dst.Set(reflect.MakeSlice(src.Type(), src.Len(), src.Len()))
			for i := range src.Len() {
				cp(dst.Index(i), src.Index(i))
			}
		case reflect.Map:
			if src.IsNil() {
				return
			}
			dst.Set(reflect.MakeMap(src.Type()))
			for _, k := range src.MapKeys() {
				e := reflect.New(src.Type().Elem()).Elem()
				cp(e, src.MapIndex(k))
				dst.SetMapIndex(k, e)
			}
		case reflect.Pointer:
			if src.IsNil() {
				return
			}
			dst.Set(reflect.New(src.Type().Elem()))
			cp(dst.Elem(), src.Elem())
		default:
			dst.Set(src)
		}
	}
	cp(out, v)
	return out
}

// TestEveryFieldIsDiffed changes each field of Source, Task and Subtask in
// turn and checks the plan shows a field change: a field added to spec
// without a line in fields.go fails here.
func TestEveryFieldIsDiffed(t *testing.T) {
	src := testSource("mysql-01")
	src.Flavor, src.Worker = spec.FlavorMariaDB, "agent-a"
	src.TLS = &spec.TLS{Mode: spec.TLSVerifyCA, CA: "/etc/ca.pem"}
	src.Annotations = map[string]string{"example.com/owner": "dba"}
	src.Relay = &spec.Relay{Enabled: true, Retain: "24h"}
	mutateLeaves(t, src, func(path string, changed any) {
		if path == ".Name" {
			return // the name is the object's identity, not a field
		}
		if len(diffFields(sourceFields(src), sourceFields(changed.(spec.Source)))) == 0 {
			t.Errorf("Source%s changed but no field change is shown", path)
		}
	})
	task := testTask("shop", "mysql-01", "mysql-02")
	task.Routes = []spec.Route{{From: "shop.orders_*", To: "shop.orders"}}
	task.Target.TLS = &spec.TLS{Mode: spec.TLSRequired}
	task.Start = map[string]spec.StartPos{"mysql-01": {GTID: "0-1-5", BinlogFile: "mysql-bin.000003", BinlogPos: 4}}
	task.AcceptLostCascades = []string{"shop.order_items"}
	task.Filters = []spec.FilterRule{{Tables: []string{"shop.orders"}, Events: []string{"delete"}, SQL: []string{"^DROP"}, Action: "ignore"}}
	task.OnlineDDL = spec.OnlineDDL{Shadow: []string{"^(.+)_s$"}, Trash: []string{"^(.+)_t$"}}
	task.ShardMode = spec.ShardPessimistic
	task.ShardDDL = spec.ShardDDL{Resolve: []spec.ShardResolution{{Table: "shop.orders", DDL: "ALTER TABLE x", Action: "skip"}}}
	task.Annotations = map[string]string{"dmplan/protect": "true"}
	mutateLeaves(t, task, func(path string, changed any) {
		if path == ".Name" {
			return
		}
		if len(diffFields(taskFields(task), taskFields(changed.(spec.Task)))) == 0 {
			t.Errorf("Task%s changed but no field change is shown", path)
		}
		if taskEqual(task, changed.(spec.Task)) {
			t.Errorf("Task%s changed but taskEqual says equal", path)
		}
	})
	st := State{Tasks: map[string]spec.Task{"shop": task}}.Subtasks()[SubtaskID{"shop", "mysql-01"}]
	mutateLeaves(t, st, func(path string, changed any) {
		switch path {
		case ".Task", ".Source", ".Stage": // identity; the stage is its own object
			return
		}
		if len(diffFields(subtaskFields(st), subtaskFields(changed.(Subtask)))) == 0 {
			t.Errorf("Subtask%s changed but no field change is shown", path)
		}
		if subtaskEqual(st, changed.(Subtask)) {
			t.Errorf("Subtask%s changed but subtaskEqual says equal", path)
		}
	})
}

// TestSourceEqual: every field of a source counts, and TLS settings are
// compared by value.
func TestSourceEqual(t *testing.T) {
	src := testSource("mysql-01")
	src.Flavor, src.Worker = spec.FlavorMariaDB, "agent-a"
	src.TLS = &spec.TLS{Mode: spec.TLSVerifyCA, CA: "/etc/ca.pem"}
	src.Annotations = map[string]string{"example.com/owner": "dba"}
	src.Relay = &spec.Relay{Enabled: true, Retain: "24h"}
	same := src
	same.TLS = &spec.TLS{Mode: spec.TLSVerifyCA, CA: "/etc/ca.pem"}
	if !SourceEqual(src, same) {
		t.Error("equal sources with TLS settings in two places are not SourceEqual")
	}
	mutateLeaves(t, src, func(path string, changed any) {
		if SourceEqual(src, changed.(spec.Source)) {
			t.Errorf("Source%s changed but SourceEqual says equal", path)
		}
	})
}
