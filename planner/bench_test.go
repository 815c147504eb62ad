package planner

import (
	"fmt"
	"io"
	"syscall"
	"testing"
	"time"
)

// cpuTime is the user and system CPU time this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkDiffAndRenderText plans and renders 1,000 sources and 10,000
// tasks (20,000 subtasks): from an empty state (every object created) and
// with 1% of the tasks changed.
func BenchmarkDiffAndRenderText(b *testing.B) {
	ws := workers("agent-a", "agent-b", "agent-c", "agent-d")
	desired := bigState(1000, 10000)
	applied := Diff(desired, State{}, ws).Desired

	changed := bigState(1000, 10000)
	n := 0
	for i := 0; i < 10000; i += 100 { // 1% of the tasks, in four different ways
		name := fmt.Sprintf("task-%05d", i)
		t := changed.Tasks[name]
		switch n % 4 {
		case 0:
			t.Tables = append(t.Tables, name+".refunds*")
		case 1:
			t.Stage = "paused"
		case 2:
			t.Sync.Batch = 500
		case 3:
			t.Target.Port = 4001
		}
		changed.Tasks[name] = t
		n++
	}

	for _, bc := range []struct {
		name             string
		desired, current State
	}{
		{"create-all", desired, State{}},
		{"1pct-changed", changed, applied},
		{"no-changes", desired, applied},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var changes int
			cpu0 := cpuTime()
			for b.Loop() {
				p := Diff(bc.desired, bc.current, ws)
				if err := RenderText(io.Discard, p, TextOptions{}); err != nil {
					b.Fatal(err)
				}
				changes = len(p.Changes)
			}
			b.ReportMetric(float64(changes), "changes")
			// CPU time of the whole process (GC included) per op: on a
			// shared machine it says more than ns/op, which counts the time
			// spent waiting for a core.
			b.ReportMetric(float64((cpuTime()-cpu0).Milliseconds())/float64(b.N), "cpu-ms/op")
		})
	}
}
