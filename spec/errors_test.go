package spec

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// validSource is a.yaml in every error case: the Source tasks refer to.
const validSource = `apiVersion: dmplan/v1
kind: Source
metadata:
  name: mysql-01
spec:
  host: 127.0.0.1
  user: dmplan
  password: ${SOURCE_PASSWORD}
`

// task is a valid Task whose spec ends with the given lines (indented by
// two spaces), with mode and sources replaceable. Its lines are:
//
//	1 apiVersion: dmplan/v1
//	2 kind: Task
//	3 metadata:
//	4   name: shop
//	5 spec:
//	6   mode: MODE
//	7   target:
//	8     host: 127.0.0.1
//	9     user: root
//	10  sources: [mysql-01]
//	11  tables: ["shop.*"]
//	12  (extra lines)
func task(extra string) string {
	return `apiVersion: dmplan/v1
kind: Task
metadata:
  name: shop
spec:
  mode: all
  target:
    host: 127.0.0.1
    user: root
  sources: [mysql-01]
  tables: ["shop.*"]
` + extra
}

var testEnv = map[string]string{
	"SOURCE_PASSWORD": "s3cret-source",
	"TARGET_PASSWORD": "s3cret-target",
	"EMPTY_PASSWORD":  "",
}

func lookup(env map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := env[k]; return v, ok }
}

// loadFiles writes files into a fresh folder, changes into it and loads
// the given paths (all of "." when none), so messages show short names.
func loadFiles(t *testing.T, files map[string]string, paths ...string) (*Set, error) {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Chdir(dir)
	if len(paths) == 0 {
		paths = []string{"."}
	}
	return Load(paths, lookup(testEnv))
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name string
		x    string   // x.yaml; a.yaml holds validSource
		want []string // the error, one line each
	}{
		{"yaml syntax", task("  dump: {threads: 4\n"),
			[]string{"x.yaml:12:9: YAML syntax error: did not find expected ',' or '}'"}},
		{"unquoted ${VAR} in a flow mapping", strings.Replace(task(""), "  target:\n    host: 127.0.0.1\n    user: root\n",
			"  target: {host: 127.0.0.1, user: root, password: ${TARGET_PASSWORD}}\n", 1),
			[]string{"x.yaml:7:11: YAML syntax error: did not find expected ',' or '}'; inside {…} or […] quote the reference: \"${TARGET_PASSWORD}\" (or write the mapping in block style)"}},
		{"unquoted ${VAR} in a flow mapping over two lines", strings.Replace(task(""), "  target:\n    host: 127.0.0.1\n    user: root\n",
			"  target: {host: 127.0.0.1,\n    password: ${TARGET_PASSWORD}}\n", 1),
			[]string{"x.yaml:7:11: YAML syntax error: did not find expected ',' or '}'; inside {…} or […] quote the reference: \"${TARGET_PASSWORD}\" (or write the mapping in block style)"}},
		{"yaml syntax on line 1", "a: b: c\n",
			[]string{"x.yaml:1:1: YAML syntax error: mapping values are not allowed in this context"}},
		{"control character", task("  stage: \"run\x01\"\n"),
			[]string{"x.yaml:12:14: YAML syntax error: control characters are not allowed"}},
		{"unknown field", task("  dump:\n    thread: 4\n"),
			[]string{"x.yaml:13:5: unknown field spec.dump.thread (known fields: threads)"}},
		{"unknown envelope field", "labels: {}\n" + task(""),
			[]string{"x.yaml:1:1: unknown field labels (known fields: apiVersion, kind, metadata, spec)"}},
		{"field given twice", task("  mode: full\n"),
			[]string{"x.yaml:12:3: spec.mode is given twice (first on line 6)"}},
		{"wrong type", task("  sync:\n    batch: many\n"),
			[]string{"x.yaml:13:12: spec.sync.batch must be an integer, not a string"}},
		{"wrong type boolean", task("  stage: on\n"),
			[]string{"x.yaml:12:10: spec.stage must be a string, not a boolean (quote yes, no, on, off, true and false to make them strings)"}},
		{"wrong type list", strings.Replace(task(""), `tables: ["shop.*"]`, `tables: "shop.*"`, 1),
			[]string{"x.yaml:11:11: spec.tables must be a list, not a string"}},
		{"not a mapping", "- a\n- b\n",
			[]string{"x.yaml:1:1: a document must be a mapping of apiVersion, kind, metadata and spec, not a list"}},
		{"bad apiVersion", strings.Replace(task(""), "dmplan/v1", "dmplan/v2", 1),
			[]string{"x.yaml:1:13: apiVersion \"dmplan/v2\" is not supported (want dmplan/v1)"}},
		{"missing apiVersion", strings.Replace(task(""), "apiVersion: dmplan/v1\n", "", 1),
			[]string{"x.yaml:1:1: apiVersion is required (want dmplan/v1)"}},
		{"bad kind", strings.Replace(task(""), "kind: Task", "kind: Job", 1),
			[]string{"x.yaml:2:7: kind \"Job\" is not supported (want Source or Task)"}},
		{"bad name", strings.Replace(task(""), "name: shop", "name: Shop_EU", 1),
			[]string{`x.yaml:4:9: metadata.name "Shop_EU" is not a valid name: must be 1 to 63 characters of a-z, 0-9 and "-", starting and ending with a letter or digit`}},
		{"name ends with dash", strings.Replace(task(""), "name: shop", "name: shop-", 1),
			[]string{`x.yaml:4:9: metadata.name "shop-" is not a valid name: must be 1 to 63 characters of a-z, 0-9 and "-", starting and ending with a letter or digit`}},
		{"name too long", strings.Replace(task(""), "name: shop", "name: "+strings.Repeat("a", 64), 1),
			[]string{`x.yaml:4:9: metadata.name "` + strings.Repeat("a", 64) + `" is not a valid name: must be 1 to 63 characters of a-z, 0-9 and "-", starting and ending with a letter or digit`}},
		{"missing name", strings.Replace(task(""), "  name: shop\n", "", 1),
			[]string{"x.yaml:3:1: metadata.name is required"}},
		{"missing spec", "apiVersion: dmplan/v1\nkind: Task\nmetadata:\n  name: shop\n",
			[]string{"x.yaml:1:1: spec is required"}},
		{"duplicate name", validSource + "---\n" + task(""),
			[]string{"x.yaml:4:9: Source \"mysql-01\" is already declared at a.yaml:1"}},
		{"missing source", strings.Replace(task(""), "[mysql-01]", "[mysql-01, mysql-09]", 1),
			[]string{`x.yaml:10:23: spec.sources[1] names Source "mysql-09", which is not declared`}},
		{"source listed twice", strings.Replace(task(""), "[mysql-01]", "\n    - mysql-01\n    - mysql-01", 1),
			[]string{`x.yaml:12:7: spec.sources[1] "mysql-01" is listed twice`}},
		{"empty sources", strings.Replace(task(""), "[mysql-01]", "[]", 1),
			[]string{"x.yaml:10:12: spec.sources must name at least one Source"}},
		{"empty tables", strings.Replace(task(""), `["shop.*"]`, "", 1),
			[]string{"x.yaml:11:3: spec.tables must list at least one table pattern"}},
		{"tables only exclude", strings.Replace(task(""), `["shop.*"]`, `["!shop.tmp"]`, 1),
			[]string{`x.yaml:11:11: spec.tables only excludes, so it matches no table; start with the tables to include, such as "db.*"`}},
		{"bad mode", strings.Replace(task(""), "mode: all", "mode: everything", 1),
			[]string{`x.yaml:6:9: spec.mode "everything" is not a mode (want full, incremental or all)`}},
		{"missing mode", strings.Replace(task(""), "  mode: all\n", "", 1),
			[]string{"x.yaml:5:1: spec.mode is required (full, incremental or all)"}},
		{"bad stage", task("  stage: go\n"),
			[]string{`x.yaml:12:10: spec.stage "go" is not a stage (want running, paused or stopped)`}},
		{"bad flavor", validSource + "  flavor: postgres\n",
			[]string{`x.yaml:9:11: spec.flavor "postgres" is not a flavor (want mysql or mariadb, or leave it out to detect it)`}},
		{"bad table pattern", strings.Replace(task(""), `["shop.*"]`, `["shop.*", "shop-eu.*"]`, 1),
			[]string{`x.yaml:11:22: spec.tables[1] "shop-eu.*": database pattern has '-', which must be escaped with \ or quoted`}},
		{"bad route", task("  routes:\n    - from: shop_*.orders_*\n      to: shop.*\n"),
			[]string{`x.yaml:14:11: spec.routes[0].to "shop.*": must be a concrete db.table, without wildcards or "!"`}},
		{"acceptLostCascades excluding", task("  acceptLostCascades: [shop.items, \"!shop.x\", \"shop-eu.*\"]\n"),
			[]string{`x.yaml:12:36: spec.acceptLostCascades[1] "!shop.x": must not start with "!"; list the tables whose cascades may be lost`,
				`x.yaml:12:47: spec.acceptLostCascades[2] "shop-eu.*": database pattern has '-', which must be escaped with \ or quoted`}},
		{"bad validate mode", task("  validate: {mode: fulll}\n"),
			[]string{`x.yaml:12:20: spec.validate.mode "fulll" is not a validation mode (want none, fast or full)`}},
		{"validate unknown field", task("  validate: {mode: full, stop: true}\n"),
			[]string{`x.yaml:12:26: unknown field spec.validate.stop (known fields: mode)`}},
		{"filter rule errors", task("  filters:\n    - tables: [\"!shop.x\"]\n      events: [upsert]\n      sql: ['(?<=a)']\n      action: skip\n    - tables: [shop.a]\n"),
			[]string{`x.yaml:13:16: spec.filters[0].tables[0] "!shop.x": must not start with "!"; a rule lists the tables it applies to`,
				`x.yaml:14:16: spec.filters[0].events[0] "upsert" is not an event (want one of: all, all dml, all ddl, insert, update, delete, create database, drop database, create table, drop table, truncate table, rename table, alter table, create index, drop index)`,
				"x.yaml:15:13: spec.filters[0].sql[0] is not an RE2 regular expression: error parsing regexp: invalid named capture: `(?<=a)`",
				`x.yaml:16:15: spec.filters[0].action "skip" is not an action (want ignore, do or error)`,
				`x.yaml:17:7: spec.filters[1] needs events or sql: a rule without either matches no event`,
				`x.yaml:17:7: spec.filters[1].action is required (ignore, do or error)`}},
		{"filter matching nothing selected", task("  filters:\n    - tables: [shop.orders, crm.*]\n      events: [delete]\n      action: ignore\n"),
			[]string{`x.yaml:13:29: spec.filters[0].tables[1] "crm.*" matches no table that spec.tables selects; the rule would never apply`}},
		{"contradicting filters", task("  filters:\n    - tables: [shop.*]\n      events: [all dml]\n      action: do\n    - tables: [shop.logs]\n      events: [delete]\n      action: ignore\n"),
			[]string{`x.yaml:16:7: spec.filters[0] (do) and spec.filters[1] (ignore) contradict each other on the tables matching both shop.* and shop.logs: both list "delete" for tables matching shop.* and shop.logs; name each event in one rule only for these tables`}},
		{"onlineDDL not a bool", task("  onlineDDL: yes\n"),
			[]string{`x.yaml:12:14: spec.onlineDDL "yes": write true or false`}},
		{"onlineDDL rule without group", task("  onlineDDL:\n    shadow: ['^_.*_tmp$']\n    trash: ['(']\n"),
			[]string{`x.yaml:13:14: spec.onlineDDL.shadow[0] "^_.*_tmp$" has no group: the first group must capture the real table's name`,
				"x.yaml:14:13: spec.onlineDDL.trash[0] is not an RE2 regular expression: error parsing regexp: missing closing ): `(`"}},
		{"route without to", task("  routes:\n    - from: shop_*.orders_*\n"),
			[]string{`x.yaml:13:7: spec.routes[0].to is required`}},
		{"port out of range", strings.Replace(validSource, "  user:", "  port: 70000\n  user:", 1),
			[]string{"x.yaml:7:9: spec.port must be between 1 and 65535, got 70000"}},
		{"missing host and user", "apiVersion: dmplan/v1\nkind: Source\nmetadata:\n  name: mysql-02\nspec:\n  port: 3306\n",
			[]string{"x.yaml:5:1: spec.host is required", "x.yaml:5:1: spec.user is required"}},
		{"missing target user", strings.Replace(task(""), "    user: root\n", "", 1),
			[]string{"x.yaml:7:3: spec.target.user is required"}},
		{"host with port", strings.Replace(task(""), "host: 127.0.0.1", "host: 127.0.0.1:4000", 1),
			[]string{`x.yaml:8:11: spec.target.host "127.0.0.1:4000" must be a host name or IP address without a port (give the port as spec.target.port)`}},
		{"start for mode all", task("  start:\n    mysql-01: {gtid: 0-1-5}\n"),
			[]string{"x.yaml:12:3: spec.start is only allowed when spec.mode is incremental (it is all); other modes start where their dump does"}},
		{"start for a source not in the task", strings.Replace(task("  start:\n    mysql-02: {gtid: 0-1-5}\n"), "mode: all", "mode: incremental", 1),
			[]string{`x.yaml:13:5: spec.start.mysql-02: source "mysql-02" is not in spec.sources`}},
		{"start with gtid and binlogFile", strings.Replace(task("  start:\n    mysql-01:\n      gtid: 0-1-5\n      binlogFile: mysql-bin.000003\n"), "mode: all", "mode: incremental", 1),
			[]string{"x.yaml:13:5: spec.start.mysql-01 gives more than one of gtid, binlogFile and time; give one"}},
		{"start with gtid and time", strings.Replace(task("  start:\n    mysql-01:\n      gtid: 0-1-5\n      time: \"2026-11-29T10:00:00Z\"\n"), "mode: all", "mode: incremental", 1),
			[]string{"x.yaml:13:5: spec.start.mysql-01 gives more than one of gtid, binlogFile and time; give one"}},
		{"start bad time", strings.Replace(task("  start:\n    mysql-01:\n      time: yesterday\n"), "mode: all", "mode: incremental", 1),
			[]string{`x.yaml:14:13: spec.start.mysql-01.time "yesterday" is not an RFC 3339 time, such as 2026-11-29T10:00:00Z`}},
		{"start binlogPos without binlogFile", strings.Replace(task("  start:\n    mysql-01:\n      binlogPos: 1234\n"), "mode: all", "mode: incremental", 1),
			[]string{"x.yaml:14:7: spec.start.mysql-01.binlogPos needs spec.start.mysql-01.binlogFile"}},
		{"start bad gtid", strings.Replace(task("  start:\n    mysql-01:\n      gtid: latest\n"), "mode: all", "mode: incremental", 1),
			[]string{"x.yaml:14:13: spec.start.mysql-01.gtid is not a GTID set (MariaDB: 0-1-1234, MySQL: 3E11FA47-71CA-11E1-9E33-C80AA9429562:1-5)"}},
		{"threads out of range", task("  dump:\n    threads: 0\n"),
			[]string{"x.yaml:13:14: spec.dump.threads must be between 1 and 64, got 0"}},
		{"workers out of range", task("  sync:\n    workers: 1000\n"),
			[]string{"x.yaml:13:14: spec.sync.workers must be between 1 and 256, got 1000"}},
		{"batch out of range", task("  sync:\n    batch: -1\n"),
			[]string{"x.yaml:13:12: spec.sync.batch must be between 1 and 10000, got -1"}},
		{"unset variable", strings.Replace(task(""), "    user: root\n", "    user: root\n    password: ${NOT_SET}\n", 1),
			[]string{"x.yaml:10:15: spec.target.password refers to ${NOT_SET}, which is not set in the environment"}},
		{"literal password", strings.Replace(validSource, "${SOURCE_PASSWORD}", "hunter2", 1),
			[]string{"x.yaml:8:13: spec.password must be a ${VAR} reference; dmplan never stores passwords"}},
		{"partial reference password", strings.Replace(validSource, "${SOURCE_PASSWORD}", "x${SOURCE_PASSWORD}", 1),
			[]string{"x.yaml:8:13: spec.password must be a ${VAR} reference; dmplan never stores passwords"}},
		{"number password", strings.Replace(validSource, "${SOURCE_PASSWORD}", "123456", 1),
			[]string{"x.yaml:8:13: spec.password must be a ${VAR} reference; dmplan never stores passwords"}},
		{"reference outside password", strings.Replace(task(""), "user: root", "user: ${TARGET_USER}", 1),
			[]string{`x.yaml:9:11: spec.target.user contains "${"; ${VAR} references are only expanded in password fields`}},
		{"bad worker", validSource + "  worker: agent/a\n",
			[]string{`x.yaml:9:11: spec.worker "agent/a" is not a valid agent name: must be 1 to 253 characters of letters, digits, ".", "_" and "-", starting and ending with a letter or digit`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := map[string]string{"a.yaml": validSource, "x.yaml": tt.x}
			if strings.Contains(tt.x, "kind: Source") && tt.name != "duplicate name" {
				files["a.yaml"] = "# The Source is in x.yaml.\n"
			}
			_, err := loadFiles(t, files)
			checkErrors(t, err, tt.want)
		})
	}
}

func checkErrors(t *testing.T, err error, want []string) {
	t.Helper()
	if err == nil {
		t.Fatalf("Load succeeded, want errors:\n%s", strings.Join(want, "\n"))
	}
	if !errors.Is(err, ErrInvalid) {
		t.Errorf("errors.Is(err, ErrInvalid) = false for %v", err)
	}
	if got := err.Error(); got != strings.Join(want, "\n") {
		t.Errorf("errors\n got:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
	}
	for _, v := range testEnv {
		if v != "" && strings.Contains(err.Error(), v) {
			t.Errorf("a password value appears in the errors: %v", err)
		}
	}
}
