package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/dmplan/dmplan/spec"
)

// The docs a user copies must work: every YAML block of README.md and
// docs/*.md loads through spec (a block marked with the line
// "<!-- docs-test: fragment -->" just before it is a part of a document
// and must only be valid YAML), and every dmplan command line of a shell
// block (sh, bash, shell, console) parses with the CLI's own commands and
// flags, without running.

// mdBlock is one fenced block of a markdown file.
type mdBlock struct {
	file     string
	line     int // of the first line inside the fence
	lang     string
	fragment bool
	text     string
}

func docsBlocks(t *testing.T) []mdBlock {
	t.Helper()
	files, err := filepath.Glob("../../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	files = append([]string{"../../README.md"}, files...)
	var out []mdBlock
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(string(data), "\n")
		for i := 0; i < len(lines); i++ {
			fence, ok := strings.CutPrefix(strings.TrimSpace(lines[i]), "```")
			if !ok {
				continue
			}
			b := mdBlock{file: filepath.Base(f), line: i + 2, lang: strings.Fields(fence + " x")[0]}
			for j := i - 1; j >= 0 && j >= i-2; j-- {
				if strings.TrimSpace(lines[j]) == "<!-- docs-test: fragment -->" {
					b.fragment = true
				}
			}
			var body []string
			for i++; i < len(lines) && !strings.HasPrefix(strings.TrimSpace(lines[i]), "```"); i++ {
				body = append(body, lines[i])
			}
			b.text = strings.Join(body, "\n") + "\n"
			out = append(out, b)
		}
	}
	return out
}

func TestDocsYAML(t *testing.T) {
	n := 0
	for _, b := range docsBlocks(t) {
		if b.lang != "yaml" && b.lang != "yml" {
			continue
		}
		n++
		where := b.file + ":" + itoa(b.line)
		if b.fragment {
			var v any
			if err := yaml.Unmarshal([]byte(b.text), &v); err != nil {
				t.Errorf("%s: a YAML fragment that is not valid YAML: %v", where, err)
			}
			continue
		}
		dir := t.TempDir()
		p := filepath.Join(dir, "block.yaml")
		if err := os.WriteFile(p, []byte(b.text), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := spec.Load([]string{p}, func(string) (string, bool) { return "secret", true }); err != nil {
			t.Errorf("%s: the YAML block does not load: %v", where, err)
		}
	}
	if n == 0 {
		t.Fatal("no YAML block found in README.md and docs/: the extraction is broken")
	}
}

func TestDocsCommands(t *testing.T) {
	n := 0
	for _, b := range docsBlocks(t) {
		switch b.lang {
		case "sh", "bash", "shell", "console":
		default:
			continue
		}
		for i, line := range shellLines(b.text) {
			for _, args := range dmplanCommands(line) {
				n++
				where := b.file + ":" + itoa(b.line+i)
				if err := parseOnly(args); err != nil {
					t.Errorf("%s: dmplan %s: %v", where, strings.Join(args, " "), err)
				}
			}
		}
	}
	if n == 0 {
		t.Fatal("no dmplan command found in the shell blocks of README.md and docs/: the extraction is broken")
	}
}

// TestDocsCommandsCatchMistakes: the check is not vacuous.
func TestDocsCommandsCatchMistakes(t *testing.T) {
	for _, bad := range []string{"dmplan plan --no-such-flag", "dmplan aply -f x", "dmplan plan -o"} {
		args := dmplanCommands(bad)
		if len(args) != 1 || parseOnly(args[0]) == nil {
			t.Errorf("%q parses", bad)
		}
	}
	if got := dmplanCommands(`FOO=1 bin/dmplan status -o json | jq '.x | y' > out.json # comment`); len(got) != 1 ||
		strings.Join(got[0], " ") != "status -o json" {
		t.Errorf("split: %q", got)
	}
}

// parseOnly finds the command args name and parses its flags and
// positional arguments, without running it.
func parseOnly(args []string) error {
	var out bytes.Buffer
	a := &app{streams: streams{in: strings.NewReader(""), out: &out, err: &out}, lookupEnv: func(string) (string, bool) { return "", false }}
	root := a.rootCommand()
	cmd, rest, err := root.Find(args)
	if err != nil {
		return err
	}
	if err := cmd.ParseFlags(rest); err != nil {
		return err
	}
	return cmd.ValidateArgs(cmd.Flags().Args())
}

// shellLines joins continuation lines and drops prompts; the result has
// one entry per source line (continued lines leave empty entries).
func shellLines(text string) []string {
	src := strings.Split(text, "\n")
	out := make([]string, len(src))
	for i := 0; i < len(src); i++ {
		start := i
		line := strings.TrimPrefix(strings.TrimSpace(src[i]), "$ ")
		for strings.HasSuffix(line, "\\") && i+1 < len(src) {
			i++
			line = strings.TrimSuffix(line, "\\") + " " + strings.TrimSpace(src[i])
		}
		out[start] = line
	}
	return out
}

// dmplanCommands splits a shell line into words (quotes, comments, pipes,
// redirections, ;, &&, &) and returns the arguments of every simple
// command whose program is dmplan (or a path ending in /dmplan).
func dmplanCommands(line string) [][]string {
	var cmds [][]string
	var cur []string
	var word strings.Builder
	inWord, redirect := false, false
	flushWord := func() {
		if inWord {
			if !redirect {
				cur = append(cur, word.String())
			}
			redirect = false
		}
		word.Reset()
		inWord = false
	}
	flushCmd := func() {
		flushWord()
		cmds = append(cmds, cur)
		cur = nil
	}
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == '\'' || c == '"':
			j := strings.IndexByte(line[i+1:], c)
			if j < 0 {
				j = len(line) - i - 1
			}
			word.WriteString(line[i+1 : i+1+j])
			inWord = true
			i += j + 1
		case c == ' ' || c == '\t':
			flushWord()
		case c == '#' && !inWord:
			i = len(line)
		case c == '|' || c == ';' || c == '&':
			flushCmd()
			if i+1 < len(line) && line[i+1] == c {
				i++
			}
		case c == '>' || c == '<':
			flushWord()
			redirect = true
			if i+1 < len(line) && line[i+1] == c {
				i++
			}
		default:
			word.WriteByte(c)
			inWord = true
		}
	}
	flushCmd()
	var out [][]string
	for _, words := range cmds {
		for len(words) > 0 && strings.Contains(words[0], "=") && !strings.HasPrefix(words[0], "-") {
			words = words[1:] // VAR=value prefixes
		}
		if len(words) > 0 && (words[0] == "dmplan" || strings.HasSuffix(words[0], "/dmplan")) {
			out = append(out, words[1:])
		}
	}
	return out
}

func itoa(n int) string { return strconv.Itoa(n) }
