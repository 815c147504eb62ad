package spec

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzLoad loads arbitrary bytes as a YAML file: Load must not panic, must
// return a Set or an ErrorList, and must never show a password value.
func FuzzLoad(f *testing.F) {
	for _, s := range []string{
		validSource,
		validSource + "---\n" + task("  start:\n    mysql-01: {gtid: 0-1-5}\n"),
		task("  routes:\n    - {from: a.*, to: b.c}\n"),
		"a: &x [*x]\n", "a: b: c\n", "- [\n", "---\n---\n", "\t\x01", "x: \xff",
		"apiVersion: dmplan/v1\nkind: Source\nmetadata: {name: s}\nspec: {<<: {host: h}, user: u, password: ${SOURCE_PASSWORD}}\n",
		"apiVersion: dmplan/v1\nkind: Source\nmetadata: {name: s}\nspec: {<<: [&a {host: h}, {<<: *a, user: u}], port: 0x10}\n",
		"a: &x {<<: *x}\n", "a: *y\n", "--- |\n---\n", "a: !!binary x\nb: 2024-01-01\n",
		"a:\n  - x\n  - y: 1\n    z: [1, 'b''c', {k: \"v\"}] # c\nb:\n- c\n", "a: {k: v,\n  l: [m,\n    n]}\n",
	} {
		f.Add([]byte(s))
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		// The fast parser builds yaml.v3's trees or leaves the input to it.
		checkFastParse(t, "input", data)
		path := filepath.Join(dir, "fuzz.yaml")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		set, err := Load([]string{path}, lookup(testEnv))
		if err != nil {
			if _, ok := err.(ErrorList); !ok {
				t.Fatalf("error is %T, not an ErrorList: %v", err, err)
			}
			if strings.Contains(err.Error(), "s3cret") && !strings.Contains(string(data), "s3cret") {
				t.Fatalf("a password value is in the errors: %v", err)
			}
			return
		}
		if set == nil {
			t.Fatal("Load returned neither a Set nor an error")
		}
		if _, err := Marshal(set); err != nil {
			t.Fatalf("Marshal of a loaded Set: %v", err)
		}
	})
}
