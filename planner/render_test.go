package planner

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/dmplan/dmplan/spec"
)

func TestRenderNoChanges(t *testing.T) {
	st := bigState(2, 2)
	ws := workers("agent-a")
	p := Diff(st, st, ws)
	p = Diff(p.Desired, p.Desired, ws)
	var buf bytes.Buffer
	if err := RenderText(&buf, p, TextOptions{Color: true}); err != nil {
		t.Fatal(err)
	}
	// Colour wraps it, but the text is exactly "No changes.".
	if got := stripANSI(buf.String()); got != "No changes.\n" {
		t.Errorf("text = %q, want %q", got, "No changes.\n")
	}
	buf.Reset()
	if err := RenderText(&buf, p, TextOptions{}); err != nil {
		t.Fatal(err)
	}
	if buf.String() != "No changes.\n" {
		t.Errorf("text = %q", buf.String())
	}
}

func stripANSI(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == 0x1b {
			for i < len(s) && s[i] != 'm' {
				i++
			}
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func TestRenderTextColorOnlyWhenAsked(t *testing.T) {
	p := samplePlan(t)
	var plain, color bytes.Buffer
	if err := RenderText(&plain, p, TextOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := RenderText(&color, p, TextOptions{Color: true}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(plain.String(), "\x1b[") {
		t.Error("plain text has ANSI codes")
	}
	if !strings.Contains(color.String(), "\x1b[32m") {
		t.Error("colour text has no green")
	}
	if stripANSI(color.String()) != plain.String() {
		t.Error("colour and plain text differ beyond the colour codes")
	}
}

func TestRenderTextLegendOnlyPresentSymbols(t *testing.T) {
	st := bigState(2, 1)
	ws := workers("agent-a")
	p := Diff(st, State{}, ws)
	var buf bytes.Buffer
	if err := RenderText(&buf, p, TextOptions{}); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if !strings.Contains(out, "  + create\n") || strings.Contains(out, " delete\n") || strings.Contains(out, "-/+ replace") {
		t.Errorf("legend should list only create:\n%s", out)
	}
	if !strings.HasSuffix(out, "Plan: 9 to create, 0 to update, 0 to replace, 0 to delete.\n") {
		t.Errorf("last line wrong:\n%s", out)
	}
}

// TestRenderNeverShowsSecrets renders a plan whose secrets changed in every
// way and checks that no digest reaches any output.
func TestRenderNeverShowsSecrets(t *testing.T) {
	cur := bigState(2, 1)
	want := bigState(2, 1)
	s := want.Sources["mysql-0000"]
	s.Password.Digest = "pbkdf2-sha256$1$c2FsdA$Y2hhbmdlZA"
	want.Sources["mysql-0000"] = s
	s = want.Sources["mysql-0001"]
	s.Password.Ref = "OTHER_PASSWORD"
	want.Sources["mysql-0001"] = s
	task := want.Tasks["task-00000"]
	task.Target.Password = spec.Secret{}
	want.Tasks["task-00000"] = task
	want.Sources["mysql-0002"] = testSource("mysql-0002")
	p := Diff(want, cur, workers("agent-a"))
	for name, render := range map[string]func(*bytes.Buffer) error{
		"text":     func(b *bytes.Buffer) error { return RenderText(b, p, TextOptions{}) },
		"json":     func(b *bytes.Buffer) error { return RenderJSON(b, p) },
		"markdown": func(b *bytes.Buffer) error { return RenderMarkdown(b, p) },
	} {
		var buf bytes.Buffer
		if err := render(&buf); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(buf.String(), "pbkdf2") {
			t.Errorf("%s output shows a secret digest", name)
		}
		if !strings.Contains(buf.String(), "(sensitive value changed)") && name != "json" {
			t.Errorf("%s output does not show the masked change", name)
		}
	}
}

func TestRenderJSONShape(t *testing.T) {
	p := samplePlan(t)
	var buf bytes.Buffer
	if err := RenderJSON(&buf, p); err != nil {
		t.Fatal(err)
	}
	var got struct {
		FormatVersion int             `json:"formatVersion"`
		Summary       Summary         `json:"summary"`
		Changes       []Change        `json:"changes"`
		Waiting       []string        `json:"waiting"`
		Desired       json.RawMessage `json:"desired"`
	}
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got.FormatVersion != FormatVersion || got.Summary != p.Summary() || len(got.Changes) != len(p.Changes) {
		t.Errorf("JSON = version %d, summary %+v, %d changes; want %d, %+v, %d",
			got.FormatVersion, got.Summary, len(got.Changes), FormatVersion, p.Summary(), len(p.Changes))
	}
	if got.Waiting == nil || got.Desired != nil {
		t.Errorf("waiting must be [] and desired absent: %s", buf.String())
	}
}

func TestRenderMarkdownFoldsLongSections(t *testing.T) {
	p := Diff(bigState(30, 1), State{}, workers("agent-a"))
	var buf bytes.Buffer
	if err := RenderMarkdown(&buf, p); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if !strings.Contains(out, "<details><summary>Sources (30 to create)</summary>") {
		t.Errorf("30 sources are not folded:\n%s", out)
	}
	if !strings.Contains(out, "<details open><summary>Tasks (1 to create)</summary>") {
		t.Errorf("a short section is folded shut:\n%s", out)
	}
	if !strings.HasPrefix(out, "### dmplan plan\n\n| | Create | Update | Replace | Delete |\n") ||
		!strings.Contains(out, "| Sources | 30 | 0 | 0 | 0 |\n") || !strings.Contains(out, "| **Total** | 65 | 0 | 0 | 0 |\n") {
		t.Errorf("the summary table does not come first, per kind and in total:\n%s", out)
	}
	if strings.Contains(out, "not shown") {
		t.Errorf("a small plan is cut:\n%s", out)
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestRenderReportsWriteErrors(t *testing.T) {
	p := samplePlan(t)
	if err := RenderText(failWriter{}, p, TextOptions{}); err == nil {
		t.Error("RenderText hid a write error")
	}
	if err := RenderMarkdown(failWriter{}, p); err == nil {
		t.Error("RenderMarkdown hid a write error")
	}
	if err := RenderJSON(failWriter{}, p); err == nil {
		t.Error("RenderJSON hid a write error")
	}
	if err := WriteFile(failWriter{}, p); err == nil {
		t.Error("WriteFile hid a write error")
	}
}
