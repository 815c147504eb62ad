package planner

import (
	"bufio"
	"io"
	"strconv"
	"strings"
)

// foldLines is the length past which a markdown section is folded into a
// <details> block, so that a large plan stays readable in a review.
const foldLines = 20

var kindTitles = map[Kind]string{
	KindSource: "Sources", KindTask: "Tasks", KindSubtask: "Subtasks", KindStage: "Stages", KindBound: "Bounds",
}

// RenderMarkdown prints the plan for a pull-request comment: a table of
// counts, the waiting sources, then one section per kind of object whose
// changes are shown in a diff block; sections longer than about 20 lines are
// folded into <details>.
func RenderMarkdown(w io.Writer, p *Plan) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	t := textWriter{w: bw}
	t.line("### dmplan plan")
	t.line("")
	if len(p.Changes) == 0 {
		t.line("No changes.")
	} else {
		s := p.Summary()
		t.line("| Create | Update | Replace | Delete |")
		t.line("|-------:|-------:|--------:|-------:|")
		t.line("| " + strconv.Itoa(s.Create) + " | " + strconv.Itoa(s.Update) + " | " +
			strconv.Itoa(s.Replace) + " | " + strconv.Itoa(s.Delete) + " |")
	}
	if l := waitingLine(p); l != "" {
		t.line("")
		t.line("> **" + mdEscape(l) + "**")
	}
	if l := rewriteLine(p); l != "" {
		t.line("")
		t.line("> " + mdEscape(l))
	}
	for _, l := range p.Live {
		t.line("")
		t.line("> Live: " + mdEscape(l))
	}
	for start := 0; start < len(p.Changes); {
		end := start
		for end < len(p.Changes) && p.Changes[end].Kind == p.Changes[start].Kind {
			end++
		}
		mdSection(&t, p.Changes[start:end])
		start = end
	}
	renderRefreshMarkdown(&t, p.Refresh)
	return bw.Flush()
}

// mdSection prints the changes of one kind as a diff block, folded when long.
func mdSection(t *textWriter, cs []Change) {
	var body strings.Builder
	sub := textWriter{w: bufio.NewWriter(&body)}
	for i, c := range cs {
		if i > 0 {
			sub.raw("\n")
		}
		sub.raw(c.Action.Symbol() + " " + string(c.Kind) + "." + c.Name + "\n")
		for _, f := range c.Fields {
			sub.raw("    " + fieldText(f, c.Action) + "\n")
		}
		for _, l := range c.Impact {
			sub.raw("    # impact: " + l + "\n")
		}
	}
	sub.w.Flush()
	text := body.String()
	fence := "```"
	for strings.Contains(text, fence) {
		fence += "`"
	}
	title := kindTitles[cs[0].Kind] + " (" + sectionCounts(cs) + ")"
	lines := strings.Count(text, "\n")
	t.line("")
	if lines > foldLines {
		t.line("<details><summary>" + htmlEscape(title) + "</summary>")
		t.line("")
	} else {
		t.line("#### " + mdEscape(title))
		t.line("")
	}
	t.line(fence + "diff")
	t.raw(text)
	t.line(fence)
	if lines > foldLines {
		t.line("")
		t.line("</details>")
	}
}

func sectionCounts(cs []Change) string {
	p := Plan{Changes: cs}
	s := p.Summary()
	var parts []string
	for _, x := range []struct {
		n    int
		verb string
	}{{s.Create, "to create"}, {s.Update, "to update"}, {s.Replace, "to replace"}, {s.Delete, "to delete"}} {
		if x.n > 0 {
			parts = append(parts, strconv.Itoa(x.n)+" "+x.verb)
		}
	}
	return strings.Join(parts, ", ")
}

var mdReplacer = strings.NewReplacer(`\`, `\\`, "*", `\*`, "_", `\_`, "`", "\\`", "<", "&lt;", ">", "&gt;", "[", `\[`, "]", `\]`, "|", `\|`)

func mdEscape(s string) string { return mdReplacer.Replace(s) }

var htmlReplacer = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;")

func htmlEscape(s string) string { return htmlReplacer.Replace(s) }
