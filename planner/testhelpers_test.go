package planner

import (
	"fmt"
	"reflect"

	"github.com/dmplan/dmplan/spec"
)

func testSource(name string) spec.Source {
	return spec.Source{Name: name, Endpoint: spec.Endpoint{Host: "127.0.0.1", Port: 3306, User: "dmplan",
		Password: spec.Secret{Ref: "SOURCE_PASSWORD", Digest: "pbkdf2-sha256$1$c2FsdA$b25l"}}}
}

func testTask(name string, sources ...string) spec.Task {
	return spec.Task{
		Name: name, Mode: spec.ModeAll, Stage: spec.StageRunning,
		Target: spec.Endpoint{Host: "127.0.0.1", Port: 4000, User: "root",
			Password: spec.Secret{Ref: "TARGET_PASSWORD", Digest: "pbkdf2-sha256$1$c2FsdA$dHdv"}},
		Sources: sources,
		Tables:  []string{name + ".*", "!" + name + ".tmp_*"},
		Dump:    spec.DumpConfig{Threads: spec.DefaultDumpThreads},
		Sync:    spec.SyncConfig{Workers: spec.DefaultSyncWorkers, Batch: spec.DefaultSyncBatch},
	}
}

// bigState builds nSources sources and nTasks tasks; task i reads from
// sources i and i+1 (mod nSources).
func bigState(nSources, nTasks int) State {
	st := State{Sources: map[string]spec.Source{}, Tasks: map[string]spec.Task{}, Bounds: map[string]string{}}
	names := make([]string, nSources)
	for i := range nSources {
		names[i] = fmt.Sprintf("mysql-%04d", i)
		st.Sources[names[i]] = testSource(names[i])
	}
	for i := range nTasks {
		a, b := names[i%nSources], names[(i+1)%nSources]
		if b < a {
			a, b = b, a
		}
		name := fmt.Sprintf("task-%05d", i)
		st.Tasks[name] = testTask(name, a, b)
	}
	return st
}

func reflectValue(v any) reflect.Value { return reflect.ValueOf(v) }
