package spec

import (
	"fmt"
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
)

// TestPositions checks where messages point in YAML that is not written
// the plain way: flow style, aliases, merge keys, tags, syntax errors. An
// anchored value starts at its anchor (&n many starts at &n).
func TestPositions(t *testing.T) {
	incremental := func(extra string) string {
		return strings.Replace(task(extra), "mode: all", "mode: incremental", 1)
	}
	tests := []struct {
		name string
		x    string // x.yaml; a.yaml holds validSource
		want []string
	}{
		{"unclosed flow list", task("  sources: [mysql-01,\n  routes: []\n"),
			[]string{"x.yaml:12:12: YAML syntax error: did not find expected ',' or ']'"}},
		{"list item where a key belongs", "apiVersion: dmplan/v1\nkind: Task\nmetadata:\n  - name: shop\n  name: x\n",
			[]string{"x.yaml:4:3: YAML syntax error: did not find expected '-' indicator"}},
		{"tab indentation", task("  dump:\n\tthreads: 4\n"),
			[]string{"x.yaml:13:1: YAML syntax error: found character that cannot start any token"}},
		{"unterminated quote", task("  stage: \"running\n"),
			[]string{"x.yaml:12:10: YAML syntax error: found unexpected end of stream"}},
		{"invalid UTF-8", task("  stage: r\xffunning\n"),
			[]string{"x.yaml:12:11: YAML syntax error: invalid leading UTF-8 octet"}},
		{"control character after non-ASCII", task("  stage: \"é\x02\"\n"),
			[]string{"x.yaml:12:12: YAML syntax error: control characters are not allowed"}},
		{"unknown alias", task("  dump: {threads: 4}\n  sync: *tuning\n"),
			[]string{"x.yaml:13:9: YAML syntax error: alias *tuning refers to no anchor &tuning before it"}},
		{"alias inside its own value", task("  dump: &d {threads: *d}\n"),
			[]string{"x.yaml:12:22: YAML syntax error: alias *d is inside the value of its own anchor &d"}},
		{"merge inside its own value", task("  dump: &d {<<: *d}\n"),
			[]string{"x.yaml:12:17: YAML syntax error: alias *d is inside the value of its own anchor &d"}},
		{"wrong type through an alias points at the alias", task("  dump: {threads: &n many}\n  sync: {workers: *n}\n"),
			[]string{"x.yaml:12:19: spec.dump.threads must be an integer, not a string", "x.yaml:13:19: spec.sync.workers must be an integer, not a string"}},
		{"list items through an alias point at the anchored list", task("  routes: &r [{from: a.*, to: b}]\n  start: {x: *r}\n"),
			[]string{`x.yaml:12:31: spec.routes[0].to "b": missing "." and table pattern after the database; want db.table (use db.* for every table)`,
				"x.yaml:13:3: spec.start is only allowed when spec.mode is incremental (it is all); other modes start where their dump does",
				`x.yaml:13:11: spec.start.x: source "x" is not in spec.sources`, "x.yaml:13:14: spec.start.x must be a mapping, not a list"}},
		{"unknown field through a merge points at the merged key", task("  sync:\n    <<: &base {workers: 8, batchs: 10}\n"),
			[]string{"x.yaml:13:28: unknown field spec.sync.batchs (known fields: batch, workers)"}},
		{"merge of a list of mappings", task("  sync:\n    <<: [{workers: 8}, {workers: 9}]\n"),
			[]string{"x.yaml:13:25: spec.sync.workers is given twice (first on line 13)"}},
		{"merge of a scalar", task("  sync:\n    <<: 8\n"),
			[]string{"x.yaml:13:9: spec.sync: a merge key (<<) takes a mapping or a list of mappings, not an integer"}},
		{"merge of a list holding a scalar", task("  sync:\n    <<: [{workers: 8}, x]\n"),
			[]string{"x.yaml:13:24: spec.sync: a merge key (<<) takes a mapping or a list of mappings, not a string"}},
		{"quoted << is an ordinary key", task("  sync:\n    \"<<\": {workers: 8}\n"),
			[]string{`x.yaml:13:5: unknown field spec.sync."<<" (known fields: batch, workers)`}},
		{"start key given twice through a merge", incremental("  start:\n    <<: {mysql-01: {gtid: 0-1-1}}\n    mysql-01: {gtid: 0-1-2}\n"),
			[]string{"x.yaml:14:5: spec.start.mysql-01 is given twice (first on line 13)"}},
		{"non-string item in a list", strings.Replace(task(""), "[mysql-01]", "[mysql-01, {a: b}]", 1),
			[]string{"x.yaml:10:23: spec.sources[1] must be a string, not a mapping"}},
		{"y is a boolean", strings.Replace(task(""), "user: root", "user: y", 1),
			[]string{"x.yaml:9:11: spec.target.user must be a string, not a boolean (quote yes, no, on, off, true and false to make them strings)"}},
		{"hexadecimal port out of range", strings.Replace(validSource, "  user:", "  port: 0x10000\n  user:", 1),
			[]string{"x.yaml:7:9: spec.port must be between 1 and 65535, got 65536"}},
		{"integer beyond int64", strings.Replace(validSource, "  user:", "  port: 18446744073709551615\n  user:", 1),
			[]string{"x.yaml:7:9: spec.port must be between 1 and 65535"}},
		{"float port", strings.Replace(validSource, "  user:", "  port: 3306.5\n  user:", 1),
			[]string{"x.yaml:7:9: spec.port must be an integer, not a number"}},
		{"binary tag", strings.Replace(validSource, "user: dmplan", "user: !!binary ZG1wbGFu", 1),
			[]string{"x.yaml:7:9: spec.user must be a string, not a value tagged !!binary"}},
		{"empty quoted host is missing", strings.Replace(validSource, "host: 127.0.0.1", `host: ""`, 1),
			[]string{"x.yaml:6:3: spec.host is required"}},
		{"null spec", "apiVersion: dmplan/v1\nkind: Source\nmetadata: {name: m}\nspec: ~\n",
			[]string{"x.yaml:4:1: spec is required"}},
		{"spec not a mapping", "apiVersion: dmplan/v1\nkind: Source\nmetadata: {name: m}\nspec: [host]\n",
			[]string{"x.yaml:4:7: spec must be a mapping, not a list"}},
		{"errors in a later document", validSource + "---\n" + strings.Replace(task(""), "    user: root\n", "    user: root\n    pasword: x\n", 1),
			[]string{"x.yaml:19:5: unknown field spec.target.pasword (known fields: host, password, port, tls, user)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := map[string]string{"a.yaml": validSource, "x.yaml": tt.x}
			if strings.Contains(tt.x, "kind: Source") {
				files["a.yaml"] = "# The Source is in x.yaml.\n"
			}
			_, err := loadFiles(t, files)
			checkErrors(t, err, tt.want)
		})
	}
}

// TestScalarsThatAreStrings: what yaml.v3 reads as timestamps, or with a
// tag of the document's own, is a string, as with yaml.v2.
func TestScalarsThatAreStrings(t *testing.T) {
	x := strings.Replace(validSource, "user: dmplan", "user: 2024-01-02", 1)
	x = strings.Replace(x, "host: 127.0.0.1", "host: !local 127.0.0.1", 1)
	x = strings.Replace(x, "  password:", "  port: 0o7_77\n  password:", 1)
	set, err := loadFiles(t, map[string]string{"a.yaml": x})
	if err != nil {
		t.Fatal(err)
	}
	if s := set.Sources[0]; s.User != "2024-01-02" || s.Host != "127.0.0.1" || s.Port != 0o777 {
		t.Errorf("source = %+v", s)
	}
}

// TestCheckNames compares CheckName and CheckWorkerName with the regular
// expressions that define them.
func TestCheckNames(t *testing.T) {
	dnsLabel := regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	workerName := regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9._-]{0,251}[A-Za-z0-9])?$`)
	r := rand.New(rand.NewPCG(3, 4))
	const alphabet = "az09AZ-._/ é"
	names := []string{"", "a", "-", "a-", "-a", "a-b", strings.Repeat("a", 63), strings.Repeat("a", 64), strings.Repeat("a", 253), strings.Repeat("a", 254)}
	for range 20000 {
		n := r.IntN(6)
		if r.IntN(10) == 0 {
			n = 60 + r.IntN(200)
		}
		var b strings.Builder
		for range n {
			c := []rune(alphabet)
			b.WriteRune(c[r.IntN(len(c))])
		}
		names = append(names, b.String())
	}
	for _, name := range names {
		if got, want := CheckName(name) == nil, dnsLabel.MatchString(name); got != want {
			t.Errorf("CheckName(%q) ok = %v, want %v", name, got, want)
		}
		if got, want := CheckWorkerName(name) == nil, workerName.MatchString(name); got != want {
			t.Errorf("CheckWorkerName(%q) ok = %v, want %v", name, got, want)
		}
	}
}

// TestSecretRefName compares secretRefName with its regular expression.
func TestSecretRefName(t *testing.T) {
	re := regexp.MustCompile(`^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$`)
	for _, s := range []string{"${A}", "${_a9}", "${9a}", "${}", "${A", "$A}", "x${A}", "${A}x", "${A-B}", "${é}", "${A B}", "${{A}}", "${A_1}"} {
		m := re.FindStringSubmatch(s)
		name, ok := secretRefName(s)
		if ok != (m != nil) || ok && name != m[1] {
			t.Errorf("secretRefName(%q) = %q, %v; want %v", s, name, ok, m)
		}
	}
}

// TestLargeFileErrors: a file large enough to be cut into pieces reports
// errors at the same lines and columns as a small one, and a syntax error
// ends its reading as it would whole.
func TestLargeFileErrors(t *testing.T) {
	var b strings.Builder
	b.WriteString(validSource)
	lines := strings.Count(validSource, "\n")
	var want []string
	for i := range 2000 {
		doc := strings.Replace(task(""), "name: shop", fmt.Sprintf("name: t%d", i), 1)
		if i%200 == 7 {
			doc += "  sync: {batch: 0}\n"
			if i < 1805 {
				want = append(want, fmt.Sprintf("x.yaml:%d:17: spec.sync.batch must be between 1 and 10000, got 0", lines+13))
			}
		}
		if i == 1805 {
			doc += "  stage: [running\n"
			want = append(want, fmt.Sprintf("x.yaml:%d:10: YAML syntax error: did not find expected ',' or ']'", lines+13))
		}
		if i == 1900 {
			doc += "  bad: field\n" // not read, as documents 1807 and on: after the syntax error
		}
		b.WriteString("---\n" + doc)
		lines += 1 + strings.Count(doc, "\n")
	}
	if b.Len() < 4*pieceBytes {
		t.Fatalf("the file has %d bytes; make it larger than %d so that it is cut", b.Len(), 4*pieceBytes)
	}
	_, err := loadFiles(t, map[string]string{"a.yaml": "# The Source is in x.yaml.\n", "x.yaml": b.String()})
	l, ok := err.(ErrorList)
	if !ok {
		t.Fatalf("err = %v", err)
	}
	var got []string
	for _, e := range l {
		got = append(got, e.Error())
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("errors\n got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
