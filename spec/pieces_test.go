package spec

import (
	"bytes"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// decodeWith loads data as one file cut into pieces of about size bytes
// and returns what it declares and the errors, as Load would collect them.
func decodeWith(data []byte, size int) ([]decl, []string, int) {
	l := &loader{errs: &errorSink{}}
	pieces := splitDocuments("f.yaml", data, size)
	l.collect(pieces, decodePieces(pieces, newSecrets(lookup(testEnv), NewHasher(nil))))
	var errs []string
	if err := l.errs.err(); err != nil {
		for _, e := range err.(ErrorList) {
			errs = append(errs, e.Error())
		}
	}
	var objects []decl
	l.each(func(obj *decl) { objects = append(objects, *obj) })
	return objects, errs, len(pieces)
}

// checkSplitSame checks that cutting data into small pieces changes
// nothing: the same documents, the same errors at the same places.
func checkSplitSame(t *testing.T, data []byte) {
	t.Helper()
	wholeObjs, wholeErrs, n := decodeWith(data, len(data)+1)
	if n != 1 {
		t.Fatalf("a file under twice the piece size was cut into %d pieces", n)
	}
	objs, errs, _ := decodeWith(data, 8)
	if !reflect.DeepEqual(wholeErrs, errs) {
		t.Errorf("errors differ when the file is cut:\nwhole:\n%s\ncut:\n%s", strings.Join(wholeErrs, "\n"), strings.Join(errs, "\n"))
	}
	if (len(wholeObjs) != 0 || len(objs) != 0) && !reflect.DeepEqual(wholeObjs, objs) {
		t.Errorf("documents differ when the file is cut:\nwhole: %+v\ncut:   %+v", wholeObjs, objs)
	}
}

func TestSplitDocuments(t *testing.T) {
	data := []byte(validSource + "---\n" + task("") + "--- \n" + task("") + "---\t# c\n---\n" + "----\n")
	pieces := splitDocuments("f.yaml", data, 8)
	if len(pieces) != 5 {
		t.Fatalf("%d pieces, want 5 (cut before each ---, not before ----)", len(pieces))
	}
	var all []byte
	line := 0
	for i, p := range pieces {
		if i > 0 && !bytes.HasPrefix(p.data, []byte("---")) {
			t.Errorf("piece %d starts with %q", i, p.data[:min(len(p.data), 8)])
		}
		if p.line != line {
			t.Errorf("piece %d starts after %d lines, want %d", i, p.line, line)
		}
		line += bytes.Count(p.data, []byte("\n"))
		all = append(all, p.data...)
	}
	if !bytes.Equal(all, data) {
		t.Error("the pieces do not add up to the file")
	}
	for _, keep := range []string{"&", "\r", "%YAML 1.1\n---\n", "\n%TAG ! tag:x,2000:\n", "\u2028"} {
		d := append(bytes.Clone(data), keep...)
		if strings.HasPrefix(keep, "%") && !strings.HasPrefix(keep, "\n") {
			d = append([]byte(keep), data...)
		}
		if n := len(splitDocuments("f.yaml", d, 8)); n != 1 {
			t.Errorf("a file with %q was cut into %d pieces", keep, n)
		}
	}
}

// TestSplitSameErrors: a large file with problems in many documents and a
// syntax error reads the same whether it is cut or not.
func TestSplitSameErrors(t *testing.T) {
	var b strings.Builder
	for i := range 40 {
		doc := strings.Replace(task(""), "name: shop", fmt.Sprintf("name: t%d", i), 1)
		switch i % 5 {
		case 1:
			doc += "  dump: {thread: 4}\n"
		case 2:
			doc += "  sync:\n    batch: many\n"
		case 3:
			doc = strings.Replace(doc, "mode: all", "mode: al", 1)
		}
		switch i {
		case 35:
			doc += "  stage: [running\n"
		case 38:
			doc = strings.Replace(doc, "mode: all", "mode: \"all\n---\nx\"", 1)
		}
		b.WriteString("---\n" + doc)
	}
	data := []byte(validSource + b.String())
	checkSplitSame(t, data)
	if _, errs, _ := decodeWith(data, 8); len(errs) < 20 {
		t.Errorf("only %d errors:\n%s", len(errs), strings.Join(errs, "\n"))
	}
}

// FuzzSplit: cutting a file into pieces never changes what it reads as.
func FuzzSplit(f *testing.F) {
	for _, s := range []string{
		validSource + "---\n" + task(""),
		"--- |\nfoo\n---\nbar\n",
		"a: \"x\n---\ny\"\n---\nb: 1\n",
		"a: 'x\n--- y'\n",
		"- [a,\n---\n b]\n",
		"a: |\n  x\n---\n  y\n",
		"...\n---\n...\n---\nkind: Task\n",
		"---\n" + task("  dump: {threads: 4\n") + "---\n" + validSource,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 16 || bytes.IndexByte(data, '&') >= 0 {
			return
		}
		checkSplitSame(t, data)
	})
}
