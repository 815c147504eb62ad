package spec

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// writeSources writes n Sources, each with a password variable of its own
// (PW_0000...), into a file under dir.
func writeSources(tb testing.TB, dir string, n int) (string, map[string]string) {
	tb.Helper()
	var b strings.Builder
	env := map[string]string{}
	for i := range n {
		fmt.Fprintf(&b, "apiVersion: dmplan/v1\nkind: Source\nmetadata:\n  name: src-%04d\nspec:\n  host: 127.0.0.1\n  user: dm\n  password: ${PW_%04d}\n---\n", i, i)
		env[fmt.Sprintf("PW_%04d", i)] = fmt.Sprintf("password-%04d", i)
	}
	path := filepath.Join(dir, "sources.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		tb.Fatal(err)
	}
	return path, env
}

// BenchmarkLoad1000Passwords is the worst case of the digest cost: 1,000
// sources, each with a password of its own (a fresh Hasher each time, so
// nothing is cached). Shared passwords cost one digest per distinct value.
//
//	go test ./spec -run '^$' -bench Load1000Passwords -benchtime 5x
func BenchmarkLoad1000Passwords(b *testing.B) {
	path, env := writeSources(b, b.TempDir(), 1000)
	shared := map[string]string{}
	for k := range env {
		shared[k] = "one-password-for-all"
	}
	for _, c := range []struct {
		name string
		env  map[string]string
	}{{"distinct", env}, {"shared", shared}} {
		b.Run(c.name, func(b *testing.B) {
			getenv := func(k string) (string, bool) { v, ok := c.env[k]; return v, ok }
			cpu0 := cpuTime()
			for b.Loop() {
				if _, err := LoadWith([]string{path}, getenv, NewHasher([]byte("bench-installation-salt"))); err != nil {
					b.Fatal(err)
				}
			}
			// CPU time says what the load costs on a machine shared with
			// others; on an idle one, wall time is about CPU time / cores.
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N)/1e6, "cpu-ms/op")
		})
	}
}

func cpuTime() time.Duration {
	var r syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &r); err != nil {
		return 0
	}
	return time.Duration(r.Utime.Nano() + r.Stime.Nano())
}

// Loading computes one digest per variable, whatever the number of
// objects that use it, and distinct variables get distinct digests.
func TestLoadDigestsPerVariable(t *testing.T) {
	path, env := writeSources(t, t.TempDir(), 50)
	env["PW_0001"] = env["PW_0000"] // one value under two names
	h := NewHasher([]byte("salt-of-this-test"))
	set, err := LoadWith([]string{path}, func(k string) (string, bool) { v, ok := env[k]; return v, ok }, h)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]string{}
	for _, s := range set.Sources {
		if want := h.Digest(s.Password.Ref, env[s.Password.Ref]); s.Password.Digest != want {
			t.Fatalf("%s: digest %s, want %s", s.Name, s.Password.Digest, want)
		}
		if other, dup := seen[s.Password.Digest]; dup {
			t.Fatalf("%s and %s have one digest", other, s.Name)
		}
		seen[s.Password.Digest] = s.Name
	}
	if len(h.keys) != 49 {
		t.Errorf("the hasher computed %d keys for 49 distinct values", len(h.keys))
	}
}

// fill puts digests into the Secrets it knows of; a Secret field added
// elsewhere must be added there too, or its digest would stay empty and a
// changed password would go unseen.
func TestEverySecretIsFilled(t *testing.T) {
	var paths []string
	var walk func(t reflect.Type, path string)
	walk = func(typ reflect.Type, path string) {
		switch typ.Kind() {
		case reflect.Struct:
			if typ == reflect.TypeFor[Secret]() {
				paths = append(paths, path)
				return
			}
			for i := range typ.NumField() {
				walk(typ.Field(i).Type, path+"."+typ.Field(i).Name)
			}
		case reflect.Slice, reflect.Pointer, reflect.Map:
			walk(typ.Elem(), path+"[]")
		}
	}
	walk(reflect.TypeFor[Set](), "Set")
	want := []string{"Set.Sources[].Endpoint.Password", "Set.Tasks[].Target.Password"}
	if !slices.Equal(paths, want) {
		t.Fatalf("Secrets in a Set: %v; secrets.fill knows %v: teach it the new ones", paths, want)
	}
}
