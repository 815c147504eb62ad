package spec

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	yaml "go.yaml.in/yaml/v3"
)

// Every document is parsed once, by go.yaml.in/yaml/v3, into a yaml.Node
// tree; the decoder (object.go) walks that tree, so every key and value has
// its line and column. This file holds what is about the YAML itself:
// parsing, syntax errors, aliases and merge keys, and the types of scalars.

// pos is a place in a file: a 1-based line and a 1-based column, counted in
// characters as yaml.v3 counts them. col is 0 when only the line is known.
type pos struct{ line, col int }

// syntaxError is a YAML error that ends the reading of a file.
type syntaxError struct {
	at  pos
	msg string
}

func (e *syntaxError) Error() string { return fmt.Sprintf("line %d: %s", e.at.line, e.msg) }

// parseDocuments parses every document of data and returns their root
// nodes, lines counted from the start of data (the fast parser's nodes
// from a, valid until a is reset). Empty documents are left
// out. On a syntax error it returns the documents before it and the error.
func parseDocuments(data []byte, a *nodeArena) (docs []*yaml.Node, serr *syntaxError) {
	if docs, ok := fastParseIn(data, a); ok {
		return docs, nil
	}
	return parseDocumentsV3(data)
}

// parseDocumentsV3 is parseDocuments by yaml.v3 alone.
func parseDocumentsV3(data []byte) (docs []*yaml.Node, serr *syntaxError) {
	defer func() {
		// yaml.v3 reports its own failures as errors; a panic here would be
		// a bug in it, and must not take the whole command down.
		if r := recover(); r != nil {
			serr = &syntaxError{at: pos{line: 1}, msg: fmt.Sprintf("YAML parser failed: %v", r)}
		}
	}()
	anchors := bytes.IndexByte(data, '&') >= 0
	dec := yaml.NewDecoder(bytes.NewReader(data))
	lastLine := 0
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return docs, yamlSyntaxError(data, err, lastLine)
		}
		lastLine = endLine(&doc)
		if len(doc.Content) == 0 || isNull(doc.Content[0]) {
			continue
		}
		root := doc.Content[0]
		if anchors {
			if a := selfAlias(root, nil); a != nil {
				return docs, &syntaxError{at: pos{a.Line, a.Column},
					msg: fmt.Sprintf("alias *%s is inside the value of its own anchor &%s", a.Value, a.Value)}
			}
		}
		docs = append(docs, root)
	}
}

// parserErrors are the messages of yaml.v3's parser (as opposed to its
// scanner). For these, yaml.v3 prints a 0-based line.
var parserErrors = map[string]bool{
	"did not find expected ',' or ']'":       true,
	"did not find expected ',' or '}'":       true,
	"did not find expected '-' indicator":    true,
	"did not find expected <document start>": true,
	"did not find expected <stream-start>":   true,
	"did not find expected key":              true,
	"did not find expected node content":     true,
	"found duplicate %TAG directive":         true,
	"found duplicate %YAML directive":        true,
	"found incompatible YAML document":       true,
	"found undefined tag handle":             true,
}

// readerErrors are the messages of yaml.v3's reader for bytes that are not
// allowed in YAML.
var readerErrors = map[string]bool{
	"control characters are not allowed": true,
	"invalid Unicode character":          true,
	"incomplete UTF-8 octet sequence":    true,
	"invalid leading UTF-8 octet":        true,
	"invalid length of a UTF-8 sequence": true,
	"invalid trailing UTF-8 octet":       true,
}

// yamlSyntaxError turns a yaml.v3 error into a syntaxError with a position.
// yaml.v3 gives a line for most syntax errors (where the broken construct
// starts, such as an unclosed "{"), and no column. It gives no line for
// problems on the first line, for problems found while reading bytes (bad
// UTF-8, control characters) and for unknown anchors: the position of
// those is found here. after is the last line of the documents before.
func yamlSyntaxError(data []byte, err error, after int) *syntaxError {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if n, tail, ok := strings.Cut(rest, ": "); ok {
			if line, err := strconv.Atoi(n); err == nil {
				if parserErrors[tail] {
					line++
				}
				return &syntaxError{at: pos{line, syntaxCol(data, line, strings.Contains(tail, "expected ',' or"))}, msg: tail}
			}
		}
	}
	if rest, ok := strings.CutPrefix(msg, "unknown anchor '"); ok {
		name, _, _ := strings.Cut(rest, "'")
		return &syntaxError{at: aliasPos(data, name, after), msg: fmt.Sprintf("alias *%s refers to no anchor &%s before it", name, name)}
	}
	if readerErrors[msg] {
		if p, ok := badBytePos(data); ok {
			return &syntaxError{at: p, msg: msg}
		}
	}
	return &syntaxError{at: pos{1, syntaxCol(data, 1, false)}, msg: msg}
}

// syntaxCol is the column yaml.v3 does not give for a syntax error on a
// line of data: where the construct left open on that line starts (a quote
// never closed, else the last "{" or "[" not closed on it: yaml.v3 reports
// such errors at the line that opens them), else the line's first
// character that is not a space (a tab there is the error). For an error
// about a flow collection (flow), its "{" or "[" when all of them close on
// the line (a ${VAR} inside one reads as a closed one). 1 for a line past
// the end.
func syntaxCol(data []byte, line int, flow bool) int {
	for n := 1; n < line; n++ {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			return 1
		}
		data = data[i+1:]
	}
	if i := bytes.IndexByte(data, '\n'); i >= 0 {
		data = data[:i]
	}
	text := []rune(string(data))
	var opens []int // columns of the "{" and "[" not closed yet
	quote, quoteAt, first, firstOpen := rune(0), 0, 0, 0
	tokenStart := func(i int) bool { return i == 0 || strings.ContainsRune(" \t[{,", text[i-1]) }
scan:
	for i, r := range text {
		col := i + 1
		if quote != 0 {
			if r == quote {
				quote = 0
			}
			continue
		}
		if first == 0 && r != ' ' {
			first = col
		}
		switch {
		case r == '#' && tokenStart(i):
			break scan // a comment: the rest of the line does not count
		case (r == '"' || r == '\'') && tokenStart(i):
			quote, quoteAt = r, col
		case r == '{' || r == '[':
			opens = append(opens, col)
			if firstOpen == 0 {
				firstOpen = col
			}
		case (r == '}' || r == ']') && len(opens) > 0:
			opens = opens[:len(opens)-1]
		}
	}
	switch {
	case quote != 0:
		return quoteAt
	case len(opens) > 0:
		return opens[len(opens)-1]
	case flow && firstOpen > 0:
		return firstOpen
	case first > 0:
		return first
	}
	return 1
}

// badBytePos returns the position of the first byte yaml.v3's reader
// rejects: invalid UTF-8, or a control character other than tab, LF and CR.
func badBytePos(data []byte) (pos, bool) {
	p := pos{1, 1}
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			return p, true
		case r == '\n':
			p.line++
			p.col = 0
		case r < 0x20 && r != '\t' && r != '\r', r == 0x7f, r >= 0x80 && r < 0xa0 && r != 0x85, r == 0xfffe, r == 0xffff:
			return p, true
		}
		p.col++
		i += size
	}
	return pos{}, false
}

// aliasPos finds the alias *name that yaml.v3 could not resolve: the first
// one after line after, or the first one anywhere.
func aliasPos(data []byte, name string, after int) pos {
	var first pos
	line, start := 1, 0
	for i := 0; i < len(data); i++ {
		if data[i] == '\n' {
			line++
			start = i + 1
			continue
		}
		if data[i] != '*' || !bytes.HasPrefix(data[i+1:], []byte(name)) {
			continue
		}
		if end := i + 1 + len(name); end < len(data) && !isAliasEnd(data[end]) {
			continue
		}
		p := pos{line, utf8.RuneCount(data[start:i]) + 1}
		if line > after {
			return p
		}
		if first.line == 0 {
			first = p
		}
	}
	if first.line == 0 {
		first.line = max(after, 1)
	}
	return first
}

func isAliasEnd(c byte) bool {
	return strings.IndexByte(" \t\r\n,]}", c) >= 0
}

// endLine is the line of the last node of a document.
func endLine(n *yaml.Node) int {
	for len(n.Content) > 0 {
		n = n.Content[len(n.Content)-1]
	}
	return n.Line
}

// selfAlias returns an alias inside the value of its own anchor, or nil.
// yaml.v3 builds such a node tree (a: &x [*x]) without complaint; walking
// it would never end. stack holds the ancestors of n.
func selfAlias(n *yaml.Node, stack []*yaml.Node) *yaml.Node {
	if n.Kind == yaml.AliasNode {
		for _, a := range stack {
			if a == n.Alias {
				return n
			}
		}
		return nil
	}
	stack = append(stack, n)
	for _, c := range n.Content {
		if a := selfAlias(c, stack); a != nil {
			return a
		}
	}
	return nil
}

// deref returns the node an alias stands for; other nodes are returned as
// they are.
func deref(n *yaml.Node) *yaml.Node {
	if n != nil && n.Kind == yaml.AliasNode && n.Alias != nil {
		return n.Alias
	}
	return n
}

// isNull reports whether n is absent or a null (~, null or nothing).
func isNull(n *yaml.Node) bool {
	n = deref(n)
	return n == nil || n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

// isMergeKey reports whether k is the merge key, a plain <<.
func isMergeKey(k *yaml.Node) bool {
	k = deref(k)
	return k.Kind == yaml.ScalarNode && k.Tag == "!!merge"
}

// scalarType is what a scalar is, for type checks and messages.
type scalarType uint8

const (
	typeNull scalarType = iota
	typeString
	typeInt
	typeFloat
	typeBool
	typeOther // a tag such as !!binary
)

// yaml11Bools are the plain scalars YAML 1.1 reads as booleans. yaml.v3
// reads only true and false so; dmplan keeps refusing the others where a
// string is expected, as yaml.v2 did, because other YAML tools still read
// "on" as true.
var yaml11Bools = map[string]bool{
	"y": true, "Y": true, "yes": true, "Yes": true, "YES": true,
	"n": true, "N": true, "no": true, "No": true, "NO": true,
	"on": true, "On": true, "ON": true, "off": true, "Off": true, "OFF": true,
}

const quotedStyles = yaml.DoubleQuotedStyle | yaml.SingleQuotedStyle | yaml.LiteralStyle | yaml.FoldedStyle | yaml.TaggedStyle

// typeOf returns the type of a scalar node (n already dereferenced).
// Timestamps and scalars with a tag of the document's own (!foo) are
// strings, as they were with yaml.v2.
func typeOf(n *yaml.Node) scalarType {
	switch n.Tag {
	case "!!null":
		return typeNull
	case "!!str":
		if n.Style&quotedStyles == 0 && yaml11Bools[n.Value] {
			return typeBool
		}
		return typeString
	case "!!int":
		if _, ok := parseInt(n.Value); ok {
			return typeInt
		}
		if _, err := strconv.ParseUint(strings.ReplaceAll(n.Value, "_", ""), 0, 64); err == nil {
			return typeInt
		}
		return typeOther
	case "!!float":
		return typeFloat
	case "!!bool":
		return typeBool
	case "!!timestamp", "!!merge":
		return typeString
	}
	if strings.HasPrefix(n.Tag, "!!") {
		return typeOther
	}
	return typeString
}

// parseInt reads an integer as yaml.v3 resolves one: decimal, 0x, 0o, 0b
// or a leading 0 for octal, with optional underscores.
func parseInt(s string) (int64, bool) {
	v, err := strconv.ParseInt(strings.ReplaceAll(s, "_", ""), 0, 64)
	return v, err == nil
}

// stringValue returns the text of a string scalar; ok is false for
// anything else.
func stringValue(n *yaml.Node) (string, bool) {
	n = deref(n)
	if n == nil || n.Kind != yaml.ScalarNode || typeOf(n) != typeString {
		return "", false
	}
	return n.Value, true
}

// describe names the kind of a node for type errors. It never shows the
// value, which may be a password.
func describe(n *yaml.Node) string {
	n = deref(n)
	if n == nil {
		return "empty"
	}
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	switch typeOf(n) {
	case typeNull:
		return "empty"
	case typeString:
		return "a string"
	case typeInt:
		return "an integer"
	case typeFloat:
		return "a number"
	case typeBool:
		return "a boolean (quote yes, no, on, off, true and false to make them strings)"
	}
	return "a value tagged " + n.Tag
}
