package statusview

import (
	"encoding/json"
	"io"
	"testing"

	"github.com/dmplan/dmplan/internal/store"
	"github.com/dmplan/dmplan/planner"
	"github.com/dmplan/dmplan/spec"
)

// FuzzReadBack decodes values as the store reads them back from etcd (a
// source, a task, a subtask status written by an agent, an apply record),
// whatever wrote them — another version, a hand edit, a bug — and runs
// them through status and plan: nothing panics.
func FuzzReadBack(f *testing.F) {
	f.Add([]byte(`{"name":"mysql-01","host":"127.0.0.1","port":3306,"user":"u","password":{"ref":"PW","digest":"x"}}`),
		[]byte(`{"name":"shop","mode":"all","stage":"running","target":{"host":"127.0.0.1","port":4000,"user":"root"},"sources":["mysql-01"],"tables":["shop.*"],"routes":[{"from":"a.b","to":"c.d"}],"start":{"mysql-01":{"gtid":"0-1-5"}},"dump":{"threads":4},"sync":{"workers":8,"batch":100}}`),
		[]byte(`{"task":"shop","source":"mysql-01","worker":"agent-a","stage":"running","unit":"sync","progress":{"rowsDone":5},"lagSeconds":1.5,"error":"x"}`),
		[]byte(`{"seq":1,"id":"1","user":"u","host":"h","planDigest":"d","time":"2026-11-29T00:00:00Z"}`))
	f.Add([]byte(`{}`), []byte(`{"name":"t","sources":["s","s",""],"tables":["!*.*","[a-"],"sync":{"workers":-1}}`),
		[]byte(`{"task":"t","source":"","progress":{"rowsTotal":-3,"rowsDone":9}}`), []byte(`null`))
	f.Fuzz(func(t *testing.T, srcVal, taskVal, statusVal, applyVal []byte) {
		var src spec.Source
		var task spec.Task
		var st store.SubtaskStatus
		var rec store.ApplyRecord
		state := planner.State{Sources: map[string]spec.Source{}, Tasks: map[string]spec.Task{}, Bounds: map[string]string{}}
		if json.Unmarshal(srcVal, &src) == nil {
			state.Sources[src.Name] = src
			state.Bounds[src.Name] = "agent-a"
		}
		if json.Unmarshal(taskVal, &task) == nil {
			state.Tasks[task.Name] = task
		}
		var statuses []store.SubtaskStatus
		if json.Unmarshal(statusVal, &st) == nil {
			statuses = append(statuses, st)
		}
		var applies []store.ApplyRecord
		if json.Unmarshal(applyVal, &rec) == nil {
			applies = append(applies, rec)
		}
		snap := &store.Snapshot{State: state, Workers: []planner.Worker{{Name: "agent-a"}}}
		for _, filter := range []string{"", task.Name} {
			v := Build(snap, statuses, applies, filter)
			_ = RenderText(io.Discard, v, TextOptions{Bars: true})
			_ = RenderJSON(io.Discard, v)
		}
		empty := planner.State{Sources: map[string]spec.Source{}, Tasks: map[string]spec.Task{}, Bounds: map[string]string{}}
		for _, p := range []*planner.Plan{
			planner.Diff(empty, state, snap.Workers),
			planner.Diff(state, empty, snap.Workers),
			planner.Diff(state, state, snap.Workers),
		} {
			_ = planner.RenderText(io.Discard, p, planner.TextOptions{})
			_ = planner.RenderMarkdown(io.Discard, p)
			_ = planner.RenderJSON(io.Discard, p)
		}
	})
}
