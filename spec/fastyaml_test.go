package spec

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	yaml "go.yaml.in/yaml/v3"
)

// sameTree reports where fast's tree differs from yaml.v3's ("" when it
// does not): kinds, tags, values, styles, lines, columns and children.
func sameTree(fast, v3 *yaml.Node, path string) string {
	if fast.Kind != v3.Kind || fast.Tag != v3.Tag || fast.Value != v3.Value || fast.Style != v3.Style ||
		fast.Line != v3.Line || fast.Column != v3.Column || len(fast.Content) != len(v3.Content) {
		return fmt.Sprintf("%s: fast {kind %v tag %s value %q style %v at %d:%d, %d children}, yaml.v3 {kind %v tag %s value %q style %v at %d:%d, %d children}",
			path, fast.Kind, fast.Tag, fast.Value, fast.Style, fast.Line, fast.Column, len(fast.Content),
			v3.Kind, v3.Tag, v3.Value, v3.Style, v3.Line, v3.Column, len(v3.Content))
	}
	for i := range fast.Content {
		if d := sameTree(fast.Content[i], v3.Content[i], fmt.Sprintf("%s/%d", path, i)); d != "" {
			return d
		}
	}
	return ""
}

// checkFastParse fails when fastParse accepts data and builds anything
// but yaml.v3's trees, or accepts what yaml.v3 refuses. It returns
// whether fastParse took data.
func checkFastParse(t testing.TB, name string, data []byte) bool {
	fast, ok := fastParse(data)
	if !ok {
		return false
	}
	v3, serr := parseDocumentsV3(data)
	if serr != nil {
		t.Errorf("%s: fastParse accepts what yaml.v3 refuses (%v):\n%s", name, serr, data)
		return true
	}
	if len(fast) != len(v3) {
		t.Errorf("%s: fastParse found %d documents, yaml.v3 %d:\n%s", name, len(fast), len(v3), data)
		return true
	}
	for i := range fast {
		if d := sameTree(fast[i], v3[i], fmt.Sprint("document ", i)); d != "" {
			t.Errorf("%s: %s\n%s", name, d, data)
			return true
		}
	}
	return true
}

// fastInputs are the YAML files of the repository, the large states of
// the tests and benchmarks, and hand-written cases on both sides of what
// fastParse takes.
func fastInputs(t *testing.T) map[string][]byte {
	in := map[string][]byte{}
	root := filepath.Join("..")
	filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() && (d.Name() == "node_modules" || d.Name() == ".git") {
			return filepath.SkipDir
		}
		if ext := filepath.Ext(path); !d.IsDir() && (ext == ".yaml" || ext == ".yml") {
			if b, err := os.ReadFile(path); err == nil {
				in[path] = b
			}
		}
		return nil
	})
	dir := t.TempDir()
	writeBig(t, dir, 20, 30)
	for _, f := range []string{"sources.yaml", "tasks-00.yaml"} {
		b, _ := os.ReadFile(filepath.Join(dir, f))
		in["big/"+f] = b
	}
	var b strings.Builder
	for i := range 5 {
		fmt.Fprintf(&b, "---\napiVersion: dmplan/v1\nkind: Source\nmetadata: {name: src-%05d}\nspec: {host: 127.0.0.1, port: %d, user: dmplan, password: \"${SOURCE_PASSWORD}\"}\n", i, 10000+i)
		fmt.Fprintf(&b, "---\napiVersion: dmplan/v1\nkind: Task\nmetadata: {name: task-%06d}\nspec:\n  mode: all\n  target: {host: 127.0.0.1, port: 4000, user: root, password: \"${TARGET_PASSWORD}\"}\n  sources: [src-%05d]\n  tables: [\"db%06d.*\", \"!db%06d.tmp_*\"]\n", i, i, i, i)
	}
	in["bench"] = []byte(b.String())
	for i, s := range []string{
		"a: b\n", "a: 1\nb: 01\nc: 1.5\nd: 1.2.3\ne: -1\nf: ~\ng: null\nh: true\ni: yes\nj: .inf\nk: 2024-01-01\n",
		"a:\n  - x\n  - y: 1\n    z: 2\n  -\n    w: 3\nb:\n- c\n- d\ne: f\n", "a: [x, 'y''s', \"z\", [1, 2], {k: v}]\n",
		"a: {k: v,\n  l: [m,\n    n]}\n", "a: {k: v,\nl: m}\n", "a: [x\n  y]\n", "a: [x # c\n  , y]\n", "a: b # c\n# d\n\ne: f #g\n",
		"--- \na: b\n", "---\n---\na: b\n...\n", "%YAML 1.2\n---\na: b\n", "a: &x b\nc: *x\n", "a: !!str b\n", "a: |\n  b\n",
		"a: b\n  c\n", "a: b: c\n", "a:\nb: c\n", "a: 'b\n  c'\n", "a: \"b\\n\"\n", "a:\tb\n", "a: é\n", "  a: b\n  c: d\n",
		"- a\n- b\n", "a: [b,]\n", "a: {b: }\n", "a: {b}\n", "a: [b: c]\n", "a: b\n b: c\n", "a: b\nc: d\n  e: f\n",
		"a: x#y\nb: x #y\nc: 'x' #y\nd: [x#y]\n", "a: {b: c} d\n", "a: [b] # c\n", "a:b\n", "a: b:c\nd: http://x\n",
		"a:\n  b:\n    c: [1, 2]\n  d: e\nf:\n  - g: [h]\n    i: {j: k}\n", "a: 'it''s'\n", "a: \"\"\nb: ''\n", "a: [ ]\nb: { }\n",
		"<<: {a: b}\n", "a: -b\n", "a: _b\nb: /c\n", "a: 99999999999999999999\n", "a: 0\nb: 00\n", "---\n# only a comment\n---\na: b\n",
		"a: [x,\ny]\n", "a:\n  b: c\n d: e\n", "a: {\"k\": 'v'}\n", "? a\n: b\n", "a: b\n---x\n", "- a\n  - b\n", "a:\n  - b\n  c: d\n",
	} {
		in[fmt.Sprintf("case %d", i)] = []byte(s)
	}
	return in
}

// TestFastParseIsYAMLv3: whatever fastParse takes, it parses as yaml.v3
// does, for every input and for every input cut after each of its lines;
// and it takes the common shapes (the bench's, the examples').
func TestFastParseIsYAMLv3(t *testing.T) {
	took := 0
	for name, data := range fastInputs(t) {
		if checkFastParse(t, name, data) {
			took++
		}
		for i := 0; i < len(data) && len(data) < 2<<10; i++ {
			if data[i] == '\n' {
				checkFastParse(t, fmt.Sprintf("%s cut at byte %d", name, i+1), data[:i+1])
				checkFastParse(t, fmt.Sprintf("%s cut at byte %d", name, i), data[:i])
			}
		}
	}
	for _, must := range []string{"bench", "big/sources.yaml", "big/tasks-00.yaml"} {
		if _, ok := fastParse(fastInputs(t)[must]); !ok {
			t.Errorf("fastParse does not take %s", must)
		}
	}
	t.Logf("fastParse took %d of the inputs", took)
}
