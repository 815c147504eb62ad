package planner

import (
	"bytes"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/dmplan/dmplan/internal/golden"
)

// A 5,000-task change (with its 1,000 sources, 10,000 subtasks and stages
// and 1,000 bounds: 27,000 changes, about 5 MB as text) renders under
// GitHub's comment limit: the summary table whole, every kind folded,
// the largest sections cut with a line each, a note with the count of
// changes left out and where the full plan is; every change is either
// shown or counted.
func TestMarkdownFitsAComment(t *testing.T) {
	p := Diff(bigState(1000, 5000), State{}, workers("agent-a", "agent-b"))
	p.Live = make([]string, 3000)
	for i := range p.Live {
		p.Live[i] = "subtask task-" + strconv.Itoa(i) + "/mysql-0001 is in error: connection refused"
	}
	var buf bytes.Buffer
	if err := RenderMarkdownWith(&buf, p, MarkdownOptions{FullPlan: "the plan file dmplan.plan in this job's artifacts (`dmplan show dmplan.plan`)"}); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if n := utf8.RuneCountInString(out); len(out) > MarkdownBudget || n >= MarkdownLimit {
		t.Fatalf("%d bytes, %d characters: over the budget %d (limit %d)", len(out), n, MarkdownBudget, MarkdownLimit)
	}
	if len(out) < MarkdownBudget*9/10 {
		t.Errorf("%d bytes: the cut leaves most of the budget unused", len(out))
	}
	s := p.Summary()
	if !strings.Contains(out, "| **Total** | "+strconv.Itoa(s.Create)+" | 0 | 0 | 0 |\n") {
		t.Errorf("no total row for %+v", s)
	}
	shown := len(regexp.MustCompile(`(?m)^(\+|~|-|-/\+) (source|task|subtask|stage|bound)\.`).FindAllString(out, -1))
	left := 0
	for _, m := range regexp.MustCompile(`(?m)^# … ([0-9,]+) of ([0-9,]+) \w+ changes not shown here`).FindAllStringSubmatch(out, -1) {
		n, _ := strconv.Atoi(strings.ReplaceAll(m[1], ",", ""))
		left += n
		t.Log(m[0])
	}
	if shown+left != len(p.Changes) || left == 0 || shown < 50 {
		t.Errorf("%d changes shown + %d counted as left out != %d", shown, left, len(p.Changes))
	}
	note := "**This comment is cut to fit a pull-request comment (GitHub allows 65,536 characters): " +
		humanCount(int64(left)) + " of " + humanCount(int64(len(p.Changes))) + " changes are not shown.** " +
		"The full plan: the plan file dmplan.plan in this job's artifacts (`dmplan show dmplan.plan`)."
	t.Logf("%d changes, %d bytes as markdown: %d shown, %d left out", len(p.Changes), len(out), shown, left)
	if !strings.HasSuffix(out, note+"\n") {
		t.Errorf("no closing note %q:\n…%s", note, out[len(out)-600:])
	}
	if !strings.Contains(out, "> Live: and 2,980 more (`dmplan status` lists them all)") {
		t.Error("live facts are not bounded")
	}
	checkMarkdownBalanced(t, out)
	// Every kind has its folded section, in plan order; the small ones whole.
	kinds := regexp.MustCompile(`<details(?: open)?><summary>(\w+) \(`).FindAllStringSubmatch(out, -1)
	var got []string
	for _, k := range kinds {
		got = append(got, k[1])
	}
	if strings.Join(got, ",") != "Sources,Tasks,Subtasks,Stages,Bounds" {
		t.Errorf("sections %v", got)
	}
}

// checkMarkdownBalanced checks that every <details> closes and every code
// block ends.
func checkMarkdownBalanced(t *testing.T, out string) {
	t.Helper()
	if o, c := strings.Count(out, "<details"), strings.Count(out, "</details>"); o != c {
		t.Errorf("%d <details> but %d </details>", o, c)
	}
	inBlock := false
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "```") {
			inBlock = !inBlock
		}
	}
	if inBlock {
		t.Error("a code block is not closed")
	}
}

// The layout of a cut plan, on a small budget: the two largest sections
// cut to one size, the small ones whole.
func TestMarkdownCutGolden(t *testing.T) {
	p := Diff(bigState(6, 20), State{}, workers("agent-a"))
	var buf bytes.Buffer
	if err := RenderMarkdownWith(&buf, p, MarkdownOptions{Limit: 9000}); err != nil {
		t.Fatal(err)
	}
	if buf.Len() > 9000 {
		t.Fatalf("%d bytes, limit 9000", buf.Len())
	}
	checkMarkdownBalanced(t, buf.String())
	golden.Check(t, "planner/markdown-cut/plan.md", buf.Bytes())
}

// Whatever the budget, the rendering stays within it and balanced.
func TestMarkdownAnyLimit(t *testing.T) {
	p := Diff(bigState(40, 100), State{}, workers("agent-a"))
	for _, limit := range []int{3000, 5000, 12000, 40000, 1 << 20} {
		var buf bytes.Buffer
		if err := RenderMarkdownWith(&buf, p, MarkdownOptions{Limit: limit}); err != nil {
			t.Fatal(err)
		}
		if buf.Len() > limit {
			t.Errorf("limit %d: %d bytes", limit, buf.Len())
		}
		checkMarkdownBalanced(t, buf.String())
		if cut := strings.Contains(buf.String(), "changes are not shown"); cut != (limit < 1<<20) {
			t.Errorf("limit %d: cut %v", limit, cut)
		}
	}
}
