package planner

import (
	"bufio"
	"io"
)

// TextOptions control RenderText.
type TextOptions struct {
	Color bool // ANSI colours, for terminals only
}

const (
	ansiReset  = "\x1b[0m"
	ansiBold   = "\x1b[1m"
	ansiFaint  = "\x1b[2m"
	ansiRed    = "\x1b[31m"
	ansiGreen  = "\x1b[32m"
	ansiYellow = "\x1b[33m"
	ansiPurple = "\x1b[35m"
)

// actionOrder is the order of the legend and of summary counts.
var actionOrder = [...]Action{Create, Update, Replace, Delete}

func legendText(a Action) string {
	switch a {
	case Create:
		return "create"
	case Update:
		return "update in place (checkpoints kept)"
	case Replace:
		return "replace: starts over (fresh dump or new position)"
	case Delete:
		return "delete"
	}
	return string(a)
}

func actionColor(a Action) string {
	switch a {
	case Create:
		return ansiGreen
	case Update:
		return ansiYellow
	case Replace:
		return ansiPurple
	case Delete:
		return ansiRed
	}
	return ""
}

// RenderText prints the plan the way `dmplan plan` shows it: a legend of the
// symbols in use, each change with its fields and impact lines, and a last
// line with the counts, or exactly "No changes." when there are none.
func RenderText(w io.Writer, p *Plan, opts TextOptions) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	t := textWriter{w: bw, color: opts.Color}
	if len(p.Changes) > 0 {
		present := map[Action]bool{}
		for _, c := range p.Changes {
			present[c.Action] = true
		}
		t.line("Actions are marked with these symbols:")
		for _, a := range actionOrder {
			if present[a] {
				t.str(paddedSymbol(a), actionColor(a))
				t.raw(" " + legendText(a) + "\n")
			}
		}
		t.line("")
		t.line("dmplan will perform these actions:")
		for _, c := range p.Changes {
			t.raw("\n")
			t.change(c, "")
		}
		t.raw("\n")
	}
	t.str(p.Summary().String(), ansiBold)
	t.raw("\n")
	if l := rewriteLine(p); l != "" {
		t.str(l, ansiYellow)
		t.raw("\n")
	}
	if l := waitingLine(p); l != "" {
		t.str(l, ansiYellow)
		t.raw("\n")
	}
	for _, l := range p.Live {
		t.str("Live: "+l, ansiYellow)
		t.raw("\n")
	}
	renderRefreshText(&t, p.Refresh)
	return bw.Flush()
}

// pad3 right-aligns a symbol in three columns, as Terraform does.
func pad3(s string) string {
	switch len(s) {
	case 1:
		return "  " + s
	case 2:
		return " " + s
	}
	return s
}

// paddedSymbol is pad3(a.Symbol()) without allocating.
func paddedSymbol(a Action) string {
	switch a {
	case Create:
		return "  +"
	case Update:
		return "  ~"
	case Replace:
		return "-/+"
	case Delete:
		return "  -"
	}
	return pad3(a.Symbol())
}

// textWriter writes to a buffered writer; bufio keeps the first error.
type textWriter struct {
	w     *bufio.Writer
	color bool
}

func (t *textWriter) raw(s string) {
	// bufio.Writer remembers its first error and returns it from Flush.
	_, _ = t.w.WriteString(s)
}

func (t *textWriter) str(s, color string) {
	if t.color && color != "" {
		t.raw(color + s + ansiReset)
		return
	}
	t.raw(s)
}

func (t *textWriter) line(s string) { t.raw(s + "\n") }

// change prints one change; indent is put before every line (the markdown
// renderer uses the same layout without it). Lines are written in pieces:
// a large plan has hundreds of thousands of them.
func (t *textWriter) change(c Change, indent string) {
	t.raw(indent)
	t.str(paddedSymbol(c.Action), actionColor(c.Action))
	t.raw(" ")
	if t.color {
		t.raw(ansiBold)
	}
	t.raw(string(c.Kind))
	t.raw(".")
	t.raw(c.Name)
	if t.color {
		t.raw(ansiReset)
	}
	t.raw("\n")
	for _, f := range c.Fields {
		t.raw(indent)
		t.raw("      ")
		t.field(f, c.Action)
		t.raw("\n")
	}
	for _, l := range c.Impact {
		t.raw(indent)
		t.raw("      ")
		if t.color {
			t.raw(ansiFaint)
		}
		t.raw("# impact: ")
		t.raw(l)
		if t.color {
			t.raw(ansiReset)
		}
		t.raw("\n")
	}
}

// field writes one field line: "path: before -> after".
func (t *textWriter) field(f FieldChange, a Action) {
	t.raw(f.Path)
	t.raw(": ")
	switch {
	case f.Sensitive:
		t.raw("(sensitive value changed)")
	case a == Create:
		t.raw(f.After)
	case a == Delete && f.After == "":
		t.raw(f.Before)
	default:
		t.raw(orNone(f.Before))
		t.raw(" -> ")
		t.raw(orNone(f.After))
	}
}

// fieldText renders one field line as a string.
func fieldText(f FieldChange, a Action) string {
	switch {
	case f.Sensitive:
		return f.Path + ": (sensitive value changed)"
	case a == Create:
		return f.Path + ": " + f.After
	case a == Delete && f.After == "":
		return f.Path + ": " + f.Before
	}
	return f.Path + ": " + orNone(f.Before) + " -> " + orNone(f.After)
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
