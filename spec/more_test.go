package spec

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dmplan/dmplan/internal/golden"
	"github.com/google/go-cmp/cmp"
)

// TestErrorsSortedAndCapped: errors from several files come sorted by file,
// line and column, and past ten the rest are counted.
func TestErrorsSortedAndCapped(t *testing.T) {
	var b strings.Builder
	for i := 0; i < 12; i++ {
		fmt.Fprintf(&b, "---\napiVersion: dmplan/v1\nkind: Source\nmetadata: {name: s%d}\nspec: {host: h, user: u, port: 0}\n", i)
	}
	_, err := loadFiles(t, map[string]string{
		"b.yaml":     b.String(),
		"a/z.yaml":   "kind: Job\n",
		"a/sub.yaml": "apiVersion: dmplan/v1\nkind: Task\nmetadata: {name: t}\nspec:\n  mode: full\n  sources: [nope]\n",
	})
	want := []string{
		`a/sub.yaml:4:1: spec.tables must list at least one table pattern`,
		"a/sub.yaml:4:1: spec.target is required",
		`a/sub.yaml:6:13: spec.sources[0] names Source "nope", which is not declared`,
		"a/z.yaml:1:1: apiVersion is required (want dmplan/v1)",
		"a/z.yaml:1:1: metadata.name is required",
		"a/z.yaml:1:1: spec is required",
		`a/z.yaml:1:7: kind "Job" is not supported (want Source or Task)`,
		"b.yaml:5:32: spec.port must be between 1 and 65535, got 0",
		"b.yaml:10:32: spec.port must be between 1 and 65535, got 0",
		"b.yaml:15:32: spec.port must be between 1 and 65535, got 0",
		"(and 9 more errors)",
	}
	checkErrors(t, err, want)
	if l, ok := err.(ErrorList); !ok || len(l) != 19 {
		t.Errorf("err is %T with %d entries, want ErrorList of 19", err, len(l))
	}
}

func TestLoadFiles(t *testing.T) {
	t.Run("missing path", func(t *testing.T) {
		_, err := loadFiles(t, map[string]string{"a.yaml": validSource}, "a.yaml", "nope.yaml")
		checkErrors(t, err, []string{"nope.yaml: cannot read: no such file or directory"})
	})
	t.Run("folder without yaml", func(t *testing.T) {
		_, err := loadFiles(t, map[string]string{"a.yaml": validSource, "empty/README.md": "hi"}, "a.yaml", "empty")
		checkErrors(t, err, []string{"empty: folder holds no .yaml or .yml files"})
	})
	t.Run("explicit file of any extension, read once", func(t *testing.T) {
		set, err := loadFiles(t, map[string]string{"src.txt": validSource, "d/x.yaml": task(""), "d/.git/bad.yaml": "[", "d/notes.json": "{"},
			"src.txt", "d", "d/x.yaml", "./d/../d/x.yaml")
		if err != nil {
			t.Fatal(err)
		}
		if len(set.Sources) != 1 || len(set.Tasks) != 1 || set.Origin["Task/shop"] != "d/x.yaml:1" {
			t.Errorf("unexpected set %+v", set)
		}
	})
	t.Run("no paths", func(t *testing.T) {
		if _, err := Load(nil, nil); err == nil {
			t.Error("Load(nil) succeeded")
		}
	})
	t.Run("empty file declares nothing", func(t *testing.T) {
		set, err := loadFiles(t, map[string]string{"a.yaml": "# nothing\n---\n...\n"})
		if err != nil || len(set.Sources)+len(set.Tasks) != 0 {
			t.Errorf("Load = %+v, %v; want an empty Set", set, err)
		}
	})
}

func TestSecrets(t *testing.T) {
	calls := map[string]int{}
	getenv := func(k string) (string, bool) {
		calls[k]++
		v, ok := testEnv[k]
		return v, ok
	}
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString(validSource)
	for i := 0; i < 50; i++ {
		fmt.Fprintf(&b, "---\n%s", strings.Replace(strings.Replace(task(""), "name: shop", fmt.Sprintf("name: t%d", i), 1),
			"    user: root\n", "    user: root\n    password: ${TARGET_PASSWORD}\n", 1))
	}
	if err := os.WriteFile(filepath.Join(dir, "x.yaml"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	set, err := Load([]string{dir}, getenv)
	if err != nil {
		t.Fatal(err)
	}
	if calls["TARGET_PASSWORD"] != 1 || calls["SOURCE_PASSWORD"] != 1 {
		t.Errorf("getenv calls = %v, want one per variable", calls)
	}
	want := Secret{Ref: "TARGET_PASSWORD", Digest: Digest("TARGET_PASSWORD", "s3cret-target")}
	for _, tk := range set.Tasks {
		if tk.Target.Password != want {
			t.Fatalf("task %s password = %+v, want %+v", tk.Name, tk.Target.Password, want)
		}
	}
	if s := fmt.Sprintf("%v %+v %#v", set, set, set); strings.Contains(s, "s3cret") {
		t.Errorf("a password value is in the Set")
	}
}

func TestDigest(t *testing.T) {
	h := NewHasher([]byte("installation-1"))
	d := h.Digest("A", "secret")
	if !strings.HasPrefix(d, DigestPrefix) || len(d) != len(DigestPrefix)+64 {
		t.Errorf("Digest = %q, want %s and 64 hex digits", d, DigestPrefix)
	}
	if d != NewHasher([]byte("installation-1")).Digest("A", "secret") {
		t.Error("Digest is not deterministic for one installation salt")
	}
	if d == NewHasher([]byte("installation-2")).Digest("A", "secret") {
		t.Error("the same password gives the same digest in two installations")
	}
	if d == h.Digest("B", "secret") {
		t.Error("Digest is not salted by the reference")
	}
	if d == h.Digest("A", "secret2") {
		t.Error("Digest ignores the value")
	}
	if h.Digest("A", "") != "" {
		t.Error("Digest of an empty value is not empty")
	}
	if strings.Contains(d, "secret") {
		t.Error("Digest shows the value")
	}
	if !h.Matches("A", "secret", d) || h.Matches("A", "other", d) || h.Matches("B", "secret", d) {
		t.Error("Matches does not recognise the current form")
	}
}

// A digest written before installation salts is recognised as such and
// matched against its value, so it can be rewritten without a false
// "password changed".
func TestLegacyDigest(t *testing.T) {
	old := LegacyDigest("A", "secret")
	if !IsLegacy(old) || IsLegacy(Digest("A", "secret")) {
		t.Fatalf("IsLegacy(%q) or IsLegacy(new form) is wrong", old)
	}
	// The legacy form as the earlier release wrote it (PBKDF2-HMAC-SHA256,
	// 4,096 iterations, salt "dmplan/v1/secret/"+ref): a vector from its
	// golden files.
	const want = "pbkdf2-sha256:ef2c4962f5cc672c45fe3184bb4a44677c234814eb6735e4439b18a689d98043"
	if got := LegacyDigest("SOURCE_PASSWORD", "s3cret-source"); got != want {
		t.Fatalf("LegacyDigest = %q, want %q", got, want)
	}
	h := NewHasher([]byte("x"))
	if !h.Matches("A", "secret", old) || h.Matches("A", "changed", old) {
		t.Error("Matches does not recognise the legacy form")
	}
}

// TestMarshalRoundTrip: Load(Marshal(set)) == set, for the fixtures.
func TestMarshalRoundTrip(t *testing.T) {
	set, err := Load([]string{filepath.Join(fixtures, "happy")}, lookup(testEnv))
	if err != nil {
		t.Fatal(err)
	}
	out, err := Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	golden.Check(t, "spec/happy.export.yaml", out)
	for _, v := range testEnv {
		if v != "" && strings.Contains(string(out), v) {
			t.Errorf("a password value is in the output")
		}
	}
	path := filepath.Join(t.TempDir(), "export.yaml")
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
	back, err := Load([]string{path}, lookup(testEnv))
	if err != nil {
		t.Fatalf("loading Marshal's output: %v\n%s", err, out)
	}
	if diff := cmp.Diff(set.Sources, back.Sources); diff != "" {
		t.Errorf("sources differ after a round trip (-before +after):\n%s", diff)
	}
	if diff := cmp.Diff(set.Tasks, back.Tasks); diff != "" {
		t.Errorf("tasks differ after a round trip (-before +after):\n%s", diff)
	}
	if _, err := Marshal(&Set{Sources: []Source{{Name: "x", Endpoint: Endpoint{Password: Secret{Ref: "not a var"}}}}}); err == nil {
		t.Error("Marshal accepted a reference that is not a variable name")
	}
}

func TestAliasesAndEmptyDocuments(t *testing.T) {
	set, err := loadFiles(t, map[string]string{
		"a.yaml": "---\n---\n" + validSource + "---\n# only a comment\n---\n" +
			strings.Replace(task(""), `tables: ["shop.*"]`, "tables: &t [\"shop.*\", \"!shop.tmp\"]\n  routes: []\n", 1) +
			"---\n" + strings.Replace(strings.Replace(task(""), "name: shop", "name: shop2", 1), `tables: ["shop.*"]`, `tables: ["x.*"]`, 1),
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Tasks) != 2 || set.Origin["Task/shop"] != "a.yaml:14" || set.Origin["Task/shop2"] != "a.yaml:28" {
		t.Errorf("tasks %d, origins %v", len(set.Tasks), set.Origin)
	}
	if set.Tasks[0].Routes != nil {
		t.Errorf("empty routes not normalised to nil: %#v", set.Tasks[0].Routes)
	}
	_, err = loadFiles(t, map[string]string{"a.yaml": "a: &x [*x]\n"})
	if err == nil {
		t.Fatal("a self-referencing alias loaded")
	}
	_, err = loadFiles(t, map[string]string{"a.yaml": validSource + "---\n" +
		strings.Replace(task(""), "  target:\n", "  target:\n    <<: {port: 1}\n    port: 2\n", 1)})
	checkErrors(t, err, []string{"a.yaml:18:5: spec.target.port is given twice (first on line 17)"})
}

func TestStartNormalised(t *testing.T) {
	x := strings.Replace(task("  start:\n    mysql-01: {}\n"), "mode: all", "mode: incremental", 1)
	set, err := loadFiles(t, map[string]string{"a.yaml": validSource, "x.yaml": x})
	if err != nil {
		t.Fatal(err)
	}
	if set.Tasks[0].Start != nil {
		t.Errorf("a start entry without a position was kept: %#v", set.Tasks[0].Start)
	}
	// An empty start is no start, whatever the mode.
	if _, err := loadFiles(t, map[string]string{"a.yaml": validSource, "x.yaml": task("  start: {}\n")}); err != nil {
		t.Errorf("empty start with mode all: %v", err)
	}
}

func TestOddKeys(t *testing.T) {
	_, err := loadFiles(t, map[string]string{"a.yaml": validSource + "  \"a x\": 1\n  ? [1]\n  : 2\n"})
	checkErrors(t, err, []string{
		`a.yaml:9:3: unknown field spec."a x" (known fields: flavor, host, password, port, relay, tls, user, worker)`,
		"a.yaml:10:5: spec has a key that is not a string",
	})
	_, err = loadFiles(t, map[string]string{"a.yaml": validSource + "  host: 127.0.0.9\n"})
	checkErrors(t, err, []string{"a.yaml:9:3: spec.host is given twice (first on line 6)"})
	// Tags the document defines itself are ignored, as yaml.v2 ignored them.
	if _, err := loadFiles(t, map[string]string{"a.yaml": strings.Replace(validSource, "spec:\n", "spec: !custom\n", 1)}); err != nil {
		t.Errorf("custom tag: %v", err)
	}
}

// A start time is kept in UTC, whatever zone it was written in, and it
// survives Marshal and Load.
func TestStartTime(t *testing.T) {
	x := strings.Replace(task("  start:\n    mysql-01: {time: \"2026-11-29T11:00:00+01:00\"}\n"), "mode: all", "mode: incremental", 1)
	set, err := loadFiles(t, map[string]string{"a.yaml": validSource, "x.yaml": x})
	if err != nil {
		t.Fatal(err)
	}
	if got := set.Tasks[0].Start["mysql-01"]; got != (StartPos{Time: "2026-11-29T10:00:00Z"}) {
		t.Fatalf("start = %#v, want time 2026-11-29T10:00:00Z", got)
	}
	out, err := Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "time: \"2026-11-29T10:00:00Z\"") {
		t.Errorf("marshalled start time missing:\n%s", out)
	}
}
