package planner

import (
	"errors"
	"maps"
	"strconv"
	"strings"

	"github.com/dmplan/dmplan/spec"
)

// ErrProtected: the plan would delete, replace or restart from a fresh dump
// an object annotated dmplan/protect: "true" (CheckProtected).
var ErrProtected = errors.New("the plan changes protected objects")

// ProtectedError lists every refused change of a plan, one line each,
// naming the object, the change and how to lift the protection.
type ProtectedError struct {
	Refusals []string
}

func (e *ProtectedError) Error() string {
	return "plan refused: " + strconv.Itoa(len(e.Refusals)) + " " + plural(len(e.Refusals), "change", "changes") +
		" to protected objects (docs/plan-format.md, \"Protection\"):\n  - " +
		strings.Join(e.Refusals, "\n  - ")
}

func (e *ProtectedError) Unwrap() error { return ErrProtected }

// protectNote is how the annotation reads in messages.
const protectNote = `(metadata.annotations: {dmplan/protect: "true"})`

// CheckProtected refuses a plan that would delete, replace or restart from
// a fresh dump a protected Source or Task (spec.AnnotationProtect). An
// object's protection is read where it will be after the plan when it
// stays (the desired state: removing the annotation in the same change
// lifts it, and the review sees that), and from the applied state when
// the plan deletes it (removing the document does not remove the
// protection: remove the annotation, apply, then delete). Deleting one
// subtask of a protected task (a source dropped from spec.sources) is a
// deletion too. It returns a *ProtectedError (errors.Is ErrProtected), or
// nil.
func CheckProtected(p *Plan, current State) error {
	var out []string
	replaced := map[string]bool{}
	for _, c := range p.Changes {
		switch {
		case c.Kind == KindSource && c.Action == Delete && spec.Protected(current.Sources[c.Name].Annotations):
			out = append(out, deleteRefusal("source", c))
		case c.Kind == KindTask && c.Action == Delete && spec.Protected(current.Tasks[c.Name].Annotations):
			out = append(out, deleteRefusal("task", c))
		case c.Kind == KindTask && c.Action == Replace && spec.Protected(p.Desired.Tasks[c.Name].Annotations):
			replaced[c.Name] = true
			out = append(out, "task "+strconv.Quote(c.Name)+" is protected "+protectNote+" and this plan replaces it"+
				impactClause(c)+": "+sameChangeFix)
		case c.Kind == KindSubtask && (c.Action == Delete || c.Action == Replace):
			task, _, _ := strings.Cut(c.Name, "/")
			t, stays := p.Desired.Tasks[task]
			if !stays || !spec.Protected(t.Annotations) || replaced[task] {
				continue
			}
			what := "deletes its subtask " + c.Name
			if c.Action == Replace {
				what = "restarts its subtask " + c.Name + " from a fresh dump"
			}
			out = append(out, "task "+strconv.Quote(task)+" is protected "+protectNote+" and this plan "+what+
				impactClause(c)+": "+sameChangeFix)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return &ProtectedError{Refusals: out}
}

// sameChangeFix says how to make a change to a protected object that stays.
const sameChangeFix = `if that is intended, remove the annotation (or set it to "false") in the same change, so that the review shows it`

func deleteRefusal(kind string, c Change) string {
	return kind + " " + strconv.Quote(c.Name) + " is protected " + protectNote + " and this plan deletes it" + impactClause(c) +
		`: to delete it, first remove the annotation (or set it to "false") and apply that change, then delete it`
}

func impactClause(c Change) string {
	if len(c.Impact) == 0 {
		return ""
	}
	return " (" + strings.Join(c.Impact, "; ") + ")"
}

// annotationLines are the impact lines of a change of annotations; only
// says nothing else of the object changed.
func annotationLines(c, w map[string]string, only bool) []string {
	if maps.Equal(c, w) {
		return nil
	}
	var out []string
	switch was, is := spec.Protected(c), spec.Protected(w); {
	case was && !is:
		out = append(out, "dmplan/protect removed: plans may now delete it, replace it or restart it from a fresh dump")
	case !was && is:
		out = append(out, "protected by dmplan/protect: plans that would delete it, replace it or restart it from a fresh dump are refused")
	}
	if only {
		out = append(out, "only annotations change: no unit is touched")
	}
	return out
}
