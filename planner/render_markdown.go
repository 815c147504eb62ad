package planner

import (
	"bufio"
	"io"
	"strconv"
	"strings"
)

// MarkdownLimit is GitHub's limit on the body of a pull-request comment, in
// characters. RenderMarkdown stays under MarkdownBudget bytes (a byte is at
// most a character), leaving room for what CI tools add around the body
// (a sticky comment's marker, a header of the team's own).
const (
	MarkdownLimit  = 65536
	MarkdownBudget = 60000
)

// foldLines is the length up to which a markdown section is shown unfolded
// (<details open>); longer ones are folded shut.
const foldLines = 20

// maxLiveLines bounds the live facts a markdown plan quotes.
const maxLiveLines = 20

var kindTitles = map[Kind]string{
	KindSource: "Sources", KindTask: "Tasks", KindSubtask: "Subtasks", KindStage: "Stages", KindBound: "Bounds",
}

// MarkdownOptions are RenderMarkdownWith's settings.
type MarkdownOptions struct {
	// Limit is the most bytes the rendering may take; 0 means
	// MarkdownBudget.
	Limit int
	// FullPlan says where a reader finds the whole plan when the rendering
	// is cut, e.g. "the plan file dmplan.plan in this job's artifacts
	// (`dmplan show dmplan.plan`)"; "" says to run plan without -o markdown.
	FullPlan string
}

// RenderMarkdown is RenderMarkdownWith with the default options.
func RenderMarkdown(w io.Writer, p *Plan) error { return RenderMarkdownWith(w, p, MarkdownOptions{}) }

// RenderMarkdownWith prints the plan for a pull-request comment: a summary
// table of counts per kind first, the waiting sources, then one foldable
// section (<details>) per kind of object, its changes in a diff block
// (open when short), then the refresh facts. The whole stays under
// opts.Limit bytes: when it would not, the largest sections are cut, each
// with a line saying how many of its changes are left out, and a note at
// the end says how many in all and where the full plan is.
func RenderMarkdownWith(w io.Writer, p *Plan, opts MarkdownOptions) error {
	limit := opts.Limit
	if limit <= 0 {
		limit = MarkdownBudget
	}
	head := markdownHead(p)
	sections := kindSections(p.Changes)
	sections = append(sections, refreshSections(p.Refresh)...)
	body, left := fitSections(sections, limit-len(head)-len(cutNote(1<<40, 1<<40, opts.FullPlan)))
	out := head + body
	if left > 0 {
		out += cutNote(left, len(p.Changes), opts.FullPlan)
	}
	if len(out) > limit {
		// Only a pathological head (thousands of password references to
		// rewrite) gets here: cut it at a line, and say so.
		note := "\n> **Cut to fit a pull-request comment.** " + fullPlanWhere(opts.FullPlan) + "\n"
		out = out[:strings.LastIndexByte(out[:max(limit-len(note), 0)], '\n')+1] + note
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	_, _ = bw.WriteString(out)
	return bw.Flush()
}

// markdownHead is the heading, the summary table and the one-line facts.
func markdownHead(p *Plan) string {
	var b strings.Builder
	b.WriteString("### dmplan plan\n\n")
	if len(p.Changes) == 0 {
		b.WriteString("No changes.\n")
	} else {
		b.WriteString("| | Create | Update | Replace | Delete |\n")
		b.WriteString("|---|-------:|-------:|--------:|-------:|\n")
		for start := 0; start < len(p.Changes); {
			end := kindEnd(p.Changes, start)
			s := (&Plan{Changes: p.Changes[start:end]}).Summary()
			b.WriteString(summaryRow(kindTitles[p.Changes[start].Kind], s))
			start = end
		}
		b.WriteString(summaryRow("**Total**", p.Summary()))
	}
	if l := waitingLine(p); l != "" {
		b.WriteString("\n> **" + mdEscape(l) + "**\n")
	}
	if l := rewriteLine(p); l != "" {
		b.WriteString("\n> " + mdEscape(l) + "\n")
	}
	for i, l := range p.Live {
		if i == maxLiveLines {
			b.WriteString("\n> Live: and " + humanCount(int64(len(p.Live)-maxLiveLines)) + " more (`dmplan status` lists them all)\n")
			break
		}
		b.WriteString("\n> Live: " + mdEscape(l) + "\n")
	}
	return b.String()
}

func summaryRow(title string, s Summary) string {
	return "| " + title + " | " + strconv.Itoa(s.Create) + " | " + strconv.Itoa(s.Update) + " | " +
		strconv.Itoa(s.Replace) + " | " + strconv.Itoa(s.Delete) + " |\n"
}

// kindEnd returns the end of the run of changes of cs[start]'s kind.
func kindEnd(cs []Change, start int) int {
	end := start
	for end < len(cs) && cs[end].Kind == cs[start].Kind {
		end++
	}
	return end
}

// mdSection is one foldable part of a markdown plan: entries (a change
// each, or a subtask's facts) between an opening and a closing, which fit
// can cut after any entry.
type mdSection struct {
	title   string   // the <summary>, plain text
	fence   string   // the code block's fence: three or more backticks
	lang    string   // the code block's language: "diff", or ""
	entries []string // each ends with "\n"
	sep     string   // between entries
	changes bool     // entries are changes (counted in the cut note)
	open    bool     // shown unfolded whatever its length (precheck errors)
	noun    string   // what an entry is, for the cut line: "subtask changes"
}

func (s *mdSection) size() int {
	n := 0
	for i, e := range s.entries {
		if i > 0 {
			n += len(s.sep)
		}
		n += len(e)
	}
	return n
}

// frame is the section's text around its entries.
func (s *mdSection) frame(lines int, cut string) (open, close string) {
	details := "<details open>"
	if lines > foldLines && !s.open {
		details = "<details>"
	}
	open = "\n" + details + "<summary>" + htmlEscape(s.title) + "</summary>\n\n" + s.fence + s.lang + "\n"
	close = cut + s.fence + "\n\n</details>\n"
	return open, close
}

// frameReserve bounds the bytes of a section's frame, cut line included.
func (s *mdSection) frameReserve() int {
	open, close := s.frame(0, "")
	return len(open) + len(close) + len(s.cutLine(1<<40, 1<<40))
}

func (s *mdSection) cutLine(left, total int) string {
	return "\n# … " + humanCount(int64(left)) + " of " + humanCount(int64(total)) + " " + s.noun + " not shown here (see the note at the end)\n"
}

// kindSections makes one section per kind of object.
func kindSections(cs []Change) []mdSection {
	var out []mdSection
	for start := 0; start < len(cs); {
		end := kindEnd(cs, start)
		out = append(out, changeSection(cs[start:end]))
		start = end
	}
	return out
}

func changeSection(cs []Change) mdSection {
	s := mdSection{title: kindTitles[cs[0].Kind] + " (" + sectionCounts(cs) + ")", sep: "\n", changes: true,
		noun: string(cs[0].Kind) + " changes", entries: make([]string, len(cs))}
	var b strings.Builder
	for i, c := range cs {
		b.Reset()
		b.WriteString(c.Action.Symbol() + " " + string(c.Kind) + "." + c.Name + "\n")
		for _, f := range c.Fields {
			b.WriteString("    " + fieldText(f, c.Action) + "\n")
		}
		for _, l := range c.Impact {
			b.WriteString("    # impact: " + l + "\n")
		}
		s.entries[i] = b.String()
	}
	s.fence, s.lang = fenceFor(s.entries), "diff"
	return s
}

// fenceFor returns a run of backticks no entry holds.
func fenceFor(entries []string) string {
	fence := "```"
	for _, e := range entries {
		for strings.Contains(e, fence) {
			fence += "`"
		}
	}
	return fence
}

// fitSections renders the sections in at most budget bytes, cutting the
// largest: every section keeps its entries up to one common size, the
// largest that fits (water filling), so small sections stay whole. It
// returns the text and how many changes it left out.
func fitSections(ss []mdSection, budget int) (string, int) {
	sizes := make([]int, len(ss))
	total, frames, largest := 0, 0, 0
	for i := range ss {
		sizes[i] = ss[i].size()
		total += sizes[i]
		frames += ss[i].frameReserve()
		largest = max(largest, sizes[i])
	}
	room := budget - frames
	capSize := largest
	if total+frames > budget {
		lo, hi := 0, largest // the largest cap whose kept sizes fit in room
		for lo < hi {
			mid := (lo + hi + 1) / 2
			if keptAll(ss, sizes, mid) <= room {
				lo = mid
			} else {
				hi = mid - 1
			}
		}
		capSize = lo
	}
	var b strings.Builder
	left := 0
	for i := range ss {
		s := &ss[i]
		n := len(s.entries)
		if sizes[i] > capSize {
			n, _ = keep(s, capSize)
		}
		lines := 0
		for _, e := range s.entries[:n] {
			lines += strings.Count(e, "\n") + 1
		}
		cut := ""
		if n < len(s.entries) {
			cut = s.cutLine(len(s.entries)-n, len(s.entries))
			lines = foldLines + 1
			if s.changes {
				left += len(s.entries) - n
			}
		}
		open, close := s.frame(lines, cut)
		b.WriteString(open)
		for j, e := range s.entries[:n] {
			if j > 0 {
				b.WriteString(s.sep)
			}
			b.WriteString(e)
		}
		b.WriteString(close)
	}
	return b.String(), left
}

// keep returns how many leading entries of s fit in capSize bytes, and
// their size.
func keep(s *mdSection, capSize int) (int, int) {
	used := 0
	for j, e := range s.entries {
		add := len(e)
		if j > 0 {
			add += len(s.sep)
		}
		if used+add > capSize {
			return j, used
		}
		used += add
	}
	return len(s.entries), used
}

// keptAll is the bytes the sections keep under capSize.
func keptAll(ss []mdSection, sizes []int, capSize int) int {
	n := 0
	for i := range ss {
		if sizes[i] <= capSize {
			n += sizes[i]
			continue
		}
		_, used := keep(&ss[i], capSize)
		n += used
	}
	return n
}

// cutNote ends a cut rendering: how many changes are not shown, where the
// full plan is.
func cutNote(left, total int, fullPlan string) string {
	return "\n> **This comment is cut to fit a pull-request comment (GitHub allows " + humanCount(MarkdownLimit) +
		" characters): " + humanCount(int64(left)) + " of " + humanCount(int64(total)) + " changes are not shown.** " +
		fullPlanWhere(fullPlan) + "\n"
}

func fullPlanWhere(fullPlan string) string {
	if fullPlan == "" {
		return "The full plan: run `dmplan plan` without `-o markdown` (or with `-o json`), or save it with `--out` and read it with `dmplan show`."
	}
	return "The full plan: " + fullPlan + "."
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
			parts = append(parts, humanCount(int64(x.n))+" "+x.verb)
		}
	}
	return strings.Join(parts, ", ")
}

var mdReplacer = strings.NewReplacer(`\`, `\\`, "*", `\*`, "_", `\_`, "`", "\\`", "<", "&lt;", ">", "&gt;", "[", `\[`, "]", `\]`, "|", `\|`)

func mdEscape(s string) string { return mdReplacer.Replace(s) }

var htmlReplacer = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;")

func htmlEscape(s string) string { return htmlReplacer.Replace(s) }

// refreshSections are the facts of plan --refresh: one section of a
// subtask's facts each, and one of the refresh's own errors.
func refreshSections(r *Refresh) []mdSection {
	if r == nil {
		return nil
	}
	facts := mdSection{title: "Refreshed from the servers (read-only; " + count(len(r.Subtasks), "subtask") + ")",
		sep: "", noun: "subtasks' facts", open: r.HasErrors()}
	for _, l := range refreshLines(r) {
		if strings.HasPrefix(l, "subtask ") || len(facts.entries) == 0 {
			facts.entries = append(facts.entries, "")
		}
		facts.entries[len(facts.entries)-1] += l + "\n"
	}
	if len(r.Subtasks) == 0 {
		facts.entries = []string{"no subtask is involved in a change\n"}
	}
	facts.fence = fenceFor(facts.entries)
	out := []mdSection{facts}
	if len(r.Errors) > 0 {
		errs := mdSection{title: "Refresh errors: the facts above are incomplete (" + count(len(r.Errors), "error") + ")", noun: "errors", open: true}
		for _, e := range r.Errors {
			errs.entries = append(errs.entries, e+"\n")
		}
		errs.fence = fenceFor(errs.entries)
		out = append(out, errs)
	}
	return out
}
