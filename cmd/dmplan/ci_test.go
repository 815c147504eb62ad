package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
	yaml "go.yaml.in/yaml/v3"
)

// The pipelines users copy, examples/ci, run here against an embedded etcd:
// their dmplan commands are read from the shipped files, in their order,
// so the files cannot rot. The scenario (ciScenario) is the life of a
// repository: a first pull request planned and applied on merge; two pull
// requests planned against the same state and merged in a row, the second's
// saved plan refused as stale and its re-plan showing only its own change;
// and the scheduled drift check failing (exit 2) once someone applied from
// elsewhere.
func TestCIPipelines(t *testing.T) {
	pipelines := map[string]map[string][]string{
		"github": githubJobs(t, "../../examples/ci/github/dmplan.yml"),
		"gitlab": gitlabJobs(t, "../../examples/ci/gitlab-ci.yml", map[string]string{
			"dmplan-plan": "plan", "dmplan-apply": "apply", "dmplan-drift": "drift"}),
	}
	dir := t.TempDir()
	for name, jobs := range pipelines {
		for _, j := range []string{"plan", "apply", "drift"} {
			if len(jobs[j]) == 0 {
				t.Fatalf("%s: job %s has no dmplan command", name, j)
			}
		}
		script, err := expandJobs(ciScenario, jobs)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(dir, name+".txtar"), []byte(script), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	testscript.Run(t, scriptParams(dir))
}

// githubJobs returns the dmplan commands of each job's run: steps.
func githubJobs(t *testing.T, path string) map[string][]string {
	var wf struct {
		Jobs map[string]struct {
			Steps []struct {
				Run string `yaml:"run"`
			} `yaml:"steps"`
		} `yaml:"jobs"`
	}
	readYAML(t, path, &wf)
	out := map[string][]string{}
	for name, j := range wf.Jobs {
		for _, s := range j.Steps {
			out[name] = append(out[name], dmplanLines(t, path, s.Run)...)
		}
	}
	return out
}

// gitlabJobs returns the dmplan commands of each job's script, under the
// names given by rename.
func gitlabJobs(t *testing.T, path string, rename map[string]string) map[string][]string {
	var ci map[string]yaml.Node
	readYAML(t, path, &ci)
	out := map[string][]string{}
	for job, as := range rename {
		var j struct {
			Script []string `yaml:"script"`
		}
		n := ci[job]
		if err := n.Decode(&j); err != nil {
			t.Fatalf("%s: job %s: %v", path, job, err)
		}
		for _, l := range j.Script {
			out[as] = append(out[as], dmplanLines(t, path, l)...)
		}
	}
	return out
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// dmplanLines keeps the lines of a step that run dmplan; a step that runs
// dmplan must be nothing else (one plain command, at most redirected).
func dmplanLines(t *testing.T, path, run string) []string {
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(run), "\n") {
		l = strings.TrimSpace(l)
		if !strings.HasPrefix(l, "dmplan ") {
			continue
		}
		if strings.ContainsAny(l, "|&;`$(") {
			t.Fatalf("%s: %q is not a plain dmplan command", path, l)
		}
		out = append(out, l)
	}
	return out
}

// expandJobs replaces the lines "[job]" (every command must succeed),
// "![job]" (its first command must fail; the rest do not run) and
// "[job:last]" (only its last command) of a scenario with the job's
// commands as testscript lines; "> FILE" becomes "cp stdout FILE", and the
// output of a job's Nth command is kept in JOB-N.stdout and JOB-N.stderr.
func expandJobs(scenario string, jobs map[string][]string) (string, error) {
	var b strings.Builder
	for _, line := range strings.SplitAfter(scenario, "\n") {
		l := strings.TrimSpace(line)
		neg := strings.HasPrefix(l, "![")
		if !strings.HasPrefix(l, "[") && !neg || !strings.HasSuffix(l, "]") || strings.HasPrefix(l, "[!") {
			b.WriteString(line)
			continue
		}
		name := strings.Trim(l, "![]")
		name, last := strings.CutSuffix(name, ":last")
		cmds, ok := jobs[name]
		if !ok {
			return "", fmt.Errorf("the scenario names job %q, which the pipeline lacks", name)
		}
		if last {
			cmds = cmds[len(cmds)-1:]
		}
		if neg {
			cmds = cmds[:1]
		}
		for i, c := range cmds {
			cmd, redirect, _ := strings.Cut(c, ">")
			fmt.Fprintf(&b, "# %s job: %s\n", name, c)
			if neg {
				b.WriteString("! ")
			}
			b.WriteString("exec " + strings.TrimSpace(cmd) + "\n")
			fmt.Fprintf(&b, "cp stdout %s-%d.stdout\ncp stderr %s-%d.stderr\n", name, i+1, name, i+1)
			if f := strings.TrimSpace(redirect); f != "" {
				fmt.Fprintf(&b, "cp stdout %s\n", f)
			}
		}
	}
	return b.String(), nil
}

// checkout DIR: the work tree's dmplan/ becomes a copy of DIR, as a
// checkout of a branch would make it.
func cmdCheckout(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: checkout DIR")
	}
	dst := ts.MkAbs("dmplan")
	ts.Check(os.RemoveAll(dst))
	ts.Check(os.MkdirAll(dst, 0o755))
	src := ts.MkAbs(args[0])
	entries, err := os.ReadDir(src)
	ts.Check(err)
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		ts.Check(err)
		ts.Check(os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644))
	}
}

const ciScenario = `
worker agent-a

# main's last pipeline left state.json (here: of the empty keyspace).
[apply:last]

# Pull request 1 creates a source and a task; the comment holds the plan.
checkout pr1
[plan]
grep '^### dmplan plan' plan.md
grep 'task.shop' plan.md
! grep 's3cret' plan.md
# Merged: the plan reviewed is applied, and the state is kept for the next ones.
[apply]
grep 'Apply complete: 5 created' apply-1.stdout

# No drift: etcd equals main.
[drift]
grep '^No changes\.$' drift-1.stdout

# Pull requests 2 (pauses shop) and 3 (adds crm) are planned against the
# same state, and merged in a row.
checkout pr2
[plan]
cp dmplan.plan pr2.plan
checkout pr3
[plan]
cp dmplan.plan pr3.plan
grep 'task.crm' plan.md

cp pr2.plan dmplan.plan
checkout pr2
[apply]
grep 'Apply complete: 0 created, 2 updated' apply-1.stdout

# Pull request 3's saved plan was made before 2 was applied: refused.
cp pr3.plan dmplan.plan
checkout main23
![apply]
grep 'stale plan' apply-1.stderr
grep 'nothing was applied' apply-1.stderr

# The pipeline runs again on main: the new plan holds only 3's change.
[plan]
grep 'task.crm' plan.md
! grep 'task.shop' plan.md
[apply]
grep 'Apply complete: 3 created, 0 updated' apply-1.stdout
[drift]
grep '^No changes\.$' drift-1.stdout

# Someone applies from a laptop: the scheduled drift check exits 2.
checkout laptop
exec dmplan apply -f dmplan/ --auto-approve
checkout main23
![drift]
grep 'spec.sync.workers: 16 -> 8' drift-1.stdout
grep '^Plan: 0 to create, 2 to update' drift-1.stdout

-- pr1/sources.yaml --
apiVersion: dmplan/v1
kind: Source
metadata:
  name: mysql-01
spec:
  host: 127.0.0.1
  user: dmplan
  password: ${SOURCE_PASSWORD}
-- pr1/shop.yaml --
apiVersion: dmplan/v1
kind: Task
metadata:
  name: shop
spec:
  mode: all
  target: {host: 127.0.0.1, port: 4000, user: root, password: "${TARGET_PASSWORD}"}
  sources: [mysql-01]
  tables: ["shop.*"]
-- pr2/sources.yaml --
apiVersion: dmplan/v1
kind: Source
metadata:
  name: mysql-01
spec:
  host: 127.0.0.1
  user: dmplan
  password: ${SOURCE_PASSWORD}
-- pr2/shop.yaml --
apiVersion: dmplan/v1
kind: Task
metadata:
  name: shop
spec:
  mode: all
  stage: paused
  target: {host: 127.0.0.1, port: 4000, user: root, password: "${TARGET_PASSWORD}"}
  sources: [mysql-01]
  tables: ["shop.*"]
-- pr3/sources.yaml --
apiVersion: dmplan/v1
kind: Source
metadata:
  name: mysql-01
spec:
  host: 127.0.0.1
  user: dmplan
  password: ${SOURCE_PASSWORD}
-- pr3/shop.yaml --
apiVersion: dmplan/v1
kind: Task
metadata:
  name: shop
spec:
  mode: all
  target: {host: 127.0.0.1, port: 4000, user: root, password: "${TARGET_PASSWORD}"}
  sources: [mysql-01]
  tables: ["shop.*"]
-- pr3/crm.yaml --
apiVersion: dmplan/v1
kind: Task
metadata:
  name: crm
spec:
  mode: incremental
  target: {host: 127.0.0.1, port: 4000, user: root, password: "${TARGET_PASSWORD}"}
  sources: [mysql-01]
  tables: ["crm.*"]
-- main23/sources.yaml --
apiVersion: dmplan/v1
kind: Source
metadata:
  name: mysql-01
spec:
  host: 127.0.0.1
  user: dmplan
  password: ${SOURCE_PASSWORD}
-- main23/shop.yaml --
apiVersion: dmplan/v1
kind: Task
metadata:
  name: shop
spec:
  mode: all
  stage: paused
  target: {host: 127.0.0.1, port: 4000, user: root, password: "${TARGET_PASSWORD}"}
  sources: [mysql-01]
  tables: ["shop.*"]
-- main23/crm.yaml --
apiVersion: dmplan/v1
kind: Task
metadata:
  name: crm
spec:
  mode: incremental
  target: {host: 127.0.0.1, port: 4000, user: root, password: "${TARGET_PASSWORD}"}
  sources: [mysql-01]
  tables: ["crm.*"]
-- laptop/sources.yaml --
apiVersion: dmplan/v1
kind: Source
metadata:
  name: mysql-01
spec:
  host: 127.0.0.1
  user: dmplan
  password: ${SOURCE_PASSWORD}
-- laptop/shop.yaml --
apiVersion: dmplan/v1
kind: Task
metadata:
  name: shop
spec:
  mode: all
  stage: paused
  target: {host: 127.0.0.1, port: 4000, user: root, password: "${TARGET_PASSWORD}"}
  sources: [mysql-01]
  tables: ["shop.*"]
-- laptop/crm.yaml --
apiVersion: dmplan/v1
kind: Task
metadata:
  name: crm
spec:
  mode: incremental
  target: {host: 127.0.0.1, port: 4000, user: root, password: "${TARGET_PASSWORD}"}
  sources: [mysql-01]
  tables: ["crm.*"]
  sync: {workers: 16}
`
