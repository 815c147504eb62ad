package spec

import (
	"strconv"

	yaml "go.yaml.in/yaml/v3"
)

// fastParse builds the node trees yaml.v3 builds for data, for the plain
// YAML that desired-state files are written in: block mappings and
// sequences, one-line flow mappings and sequences (or flow collections
// over several lines), plain scalars on one line and quoted scalars
// without escapes, comments. It is several times cheaper than yaml.v3's
// parser, which is most of the cost of loading 100,000 tasks. ok is false
// when data holds anything else — anchors, tags, block scalars, multi-line
// plain scalars, escapes, tabs, non-ASCII text, directives, syntax errors —
// and then yaml.v3 parses it (so errors keep yaml.v3's messages and
// positions). TestFastParseIsYAMLv3 and FuzzLoad check that every tree it
// builds is the one yaml.v3 builds: kinds, tags, values, styles, lines and
// columns.
func fastParse(data []byte) (docs []*yaml.Node, ok bool) {
	return fastParseIn(data, &nodeArena{})
}

// fastParseIn is fastParse with its nodes taken from a: the trees are valid
// until a is reset.
func fastParseIn(data []byte, a *nodeArena) (docs []*yaml.Node, ok bool) {
	for _, c := range data {
		if c >= 0x7f || c < 0x20 && c != '\n' {
			return nil, false
		}
	}
	p := &fastParser{data: data, line: 1, arena: a}
	defer func() {
		if r := recover(); r != nil {
			if _, bail := r.(fastBail); !bail {
				panic(r)
			}
			docs, ok = nil, false
		}
	}()
	first := true
	for {
		p.skipBlank()
		if p.eof() {
			return docs, true
		}
		if p.atDocStart() {
			p.i += 3
			p.endOfLine()
		} else if !first {
			p.bail()
		}
		first = false
		p.skipBlank()
		if p.eof() || p.atDocStart() {
			continue // an empty document
		}
		if p.col() != 1 && p.peekDash() {
			p.bail() // a root sequence that is indented: rare, left to yaml.v3
		}
		docs = append(docs, p.block(p.col()))
		p.skipBlank()
		if !p.eof() && !p.atDocStart() {
			p.bail()
		}
	}
}

// fastBail is the panic that gives the input back to yaml.v3.
type fastBail struct{}

type fastParser struct {
	data      []byte
	i         int // next byte
	line      int // 1-based line of data[i]
	lineStart int // offset of the line's first byte
	arena     *nodeArena
	nodes     []yaml.Node // the rest of the current slab
	ptrs      []*yaml.Node
	stack     []*yaml.Node
}

func (p *fastParser) bail()     { panic(fastBail{}) }
func (p *fastParser) eof() bool { return p.i >= len(p.data) }
func (p *fastParser) col() int  { return p.i - p.lineStart + 1 }

func (p *fastParser) peek(k int) byte {
	if p.i+k < len(p.data) {
		return p.data[p.i+k]
	}
	return 0
}

// node returns a new node at the current position, from a slab.
func (p *fastParser) node(kind yaml.Kind, tag string) *yaml.Node {
	if len(p.nodes) == 0 {
		p.nodes = p.arena.nodeSlab()
	}
	n := &p.nodes[0]
	p.nodes = p.nodes[1:]
	n.Kind, n.Tag, n.Line, n.Column = kind, tag, p.line, p.col()
	return n
}

// content moves the nodes pushed since mark into a slice of their own.
func (p *fastParser) content(mark int) []*yaml.Node {
	n := len(p.stack) - mark
	if len(p.ptrs) < n {
		p.ptrs = p.arena.ptrSlab(n)
	}
	out := p.ptrs[:n:n]
	p.ptrs = p.ptrs[n:]
	copy(out, p.stack[mark:])
	clear(p.stack[mark:])
	p.stack = p.stack[:mark]
	return out
}

// newline consumes a line feed.
func (p *fastParser) newline() {
	p.i++
	p.line++
	p.lineStart = p.i
}

func (p *fastParser) skipSpaces() {
	for p.i < len(p.data) && p.data[p.i] == ' ' {
		p.i++
	}
}

// skipBlank skips empty lines and lines holding only a comment, and the
// indentation of the next line, which it leaves p at.
func (p *fastParser) skipBlank() {
	for {
		start := p.i
		p.skipSpaces()
		switch {
		case p.eof():
			return
		case p.data[p.i] == '\n':
			p.newline()
		case p.data[p.i] == '#':
			p.skipComment()
		default:
			_ = start
			return
		}
	}
}

// skipComment skips a comment to the end of its line and the line feed.
func (p *fastParser) skipComment() {
	for p.i < len(p.data) && p.data[p.i] != '\n' {
		p.i++
	}
	if !p.eof() {
		p.newline()
	}
}

// endOfLine accepts spaces and a comment up to the end of the line.
func (p *fastParser) endOfLine() {
	p.skipSpaces()
	switch {
	case p.eof():
	case p.data[p.i] == '\n':
		p.newline()
	case p.data[p.i] == '#' && p.data[p.i-1] == ' ':
		p.skipComment()
	default:
		p.bail()
	}
}

// atDocStart reports whether p is at a "---" line (at column 1, followed
// by the end of the line); "---" followed by anything else, and "...",
// are left to yaml.v3.
func (p *fastParser) atDocStart() bool {
	if p.col() != 1 || p.i+3 > len(p.data) {
		return false
	}
	d := p.data[p.i:]
	if d[0] == '.' && d[1] == '.' && d[2] == '.' || d[0] == '%' {
		p.bail()
	}
	if d[0] != '-' || d[1] != '-' || d[2] != '-' {
		return false
	}
	if len(d) > 3 && d[3] != '\n' {
		p.bail()
	}
	return true
}

// peekDash reports whether p is at a block sequence entry: "-" followed
// by a space or the end of the line.
func (p *fastParser) peekDash() bool {
	if p.peek(0) != '-' {
		return false
	}
	c := p.peek(1)
	return c == ' ' || c == '\n' || c == 0
}

// block parses the block node whose first line starts at p, at column
// indent.
func (p *fastParser) block(indent int) *yaml.Node {
	if p.peekDash() {
		return p.sequence(indent, false)
	}
	if p.keyLength() > 0 {
		return p.mapping(indent)
	}
	p.bail()
	return nil
}

// keyLength returns the length of the plain key at p when it is followed
// by ":" and a space or the end of the line, else 0.
func (p *fastParser) keyLength() int {
	d := p.data[p.i:]
	if len(d) == 0 || !isLetter(d[0]) && d[0] != '_' {
		return 0
	}
	for k := 1; k < len(d); k++ {
		c := d[k]
		switch {
		case isLetter(c) || '0' <= c && c <= '9' || c == '_' || c == '-' || c == '.' || c == '/':
		case c == ':':
			if k+1 == len(d) || d[k+1] == ' ' || d[k+1] == '\n' {
				return k
			}
			return 0
		default:
			return 0
		}
	}
	return 0
}

func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

// mapping parses a block mapping whose keys are at column indent.
func (p *fastParser) mapping(indent int) *yaml.Node {
	m := p.node(yaml.MappingNode, "!!map")
	mark := len(p.stack)
	for {
		n := p.keyLength()
		if n == 0 {
			p.bail()
		}
		key := p.node(yaml.ScalarNode, "")
		p.plainScalar(key, p.data[p.i:p.i+n])
		p.i += n + 1 // the key and its colon
		p.stack = append(p.stack, key, p.value(indent, true))
		p.skipBlank()
		if p.eof() || p.atDocStart() || p.col() < indent {
			break
		}
		if p.col() > indent || p.peekDash() {
			p.bail()
		}
	}
	m.Content = p.content(mark)
	return m
}

// sequence parses a block sequence whose dashes are at column indent.
// indentless is true for a sequence that is the value of a mapping key
// at the same column (key:\n- a), which ends at the next key.
func (p *fastParser) sequence(indent int, indentless bool) *yaml.Node {
	s := p.node(yaml.SequenceNode, "!!seq")
	mark := len(p.stack)
	for {
		p.i++ // the dash
		p.stack = append(p.stack, p.value(indent, false))
		p.skipBlank()
		if p.eof() || p.atDocStart() || p.col() < indent {
			break
		}
		if p.col() > indent {
			p.bail()
		}
		if !p.peekDash() {
			if indentless {
				break
			}
			p.bail()
		}
	}
	s.Content = p.content(mark)
	return s
}

// value parses what follows a key's colon or an entry's dash: a value on
// the same line, or a block on the lines below, more indented than indent
// (or a sequence at indent, for a key).
func (p *fastParser) value(indent int, ofKey bool) *yaml.Node {
	p.skipSpaces()
	if p.eof() || p.data[p.i] == '\n' || p.data[p.i] == '#' && p.data[p.i-1] == ' ' {
		p.endOfLine()
		p.skipBlank()
		switch {
		case p.eof() || p.atDocStart():
		case p.col() > indent:
			return p.block(p.col())
		case p.col() == indent && ofKey && p.peekDash():
			return p.sequence(indent, true)
		}
		p.bail() // an empty value: left to yaml.v3
	}
	if !ofKey && p.keyLength() > 0 {
		return p.mapping(p.col()) // - key: value
	}
	var v *yaml.Node
	switch p.data[p.i] {
	case '[', '{':
		v = p.flow(indent)
	case '"', '\'':
		v = p.quoted()
	default:
		v = p.node(yaml.ScalarNode, "")
		start := p.i
		for p.i < len(p.data) && p.data[p.i] != '\n' && !(p.data[p.i] == '#' && p.data[p.i-1] == ' ') {
			if p.data[p.i] == ':' && (p.i+1 == len(p.data) || p.data[p.i+1] == ' ' || p.data[p.i+1] == '\n') {
				p.bail() // key: key: value
			}
			p.i++
		}
		end := p.i
		for end > start && p.data[end-1] == ' ' {
			end--
		}
		p.plainScalar(v, p.data[start:end])
	}
	p.endOfLine()
	// A more indented line after a value on one line continues it (a
	// multi-line scalar) or is an error: yaml.v3's to read.
	p.skipBlank()
	if !p.eof() && p.col() > indent && !p.atDocStart() {
		p.bail()
	}
	return v
}

// flow parses a flow mapping or sequence; lines inside it must be more
// indented than indent.
func (p *fastParser) flow(indent int) *yaml.Node {
	open := p.data[p.i]
	var n *yaml.Node
	close := byte(']')
	if open == '{' {
		n, close = p.node(yaml.MappingNode, "!!map"), '}'
	} else {
		n = p.node(yaml.SequenceNode, "!!seq")
	}
	n.Style = yaml.FlowStyle
	p.i++
	mark := len(p.stack)
	for {
		p.flowSpace(indent)
		if p.peek(0) == close {
			p.i++
			break
		}
		p.stack = append(p.stack, p.flowNode(indent))
		p.flowSpace(indent)
		if open == '{' {
			if p.peek(0) != ':' {
				p.bail() // a key without a value
			}
			p.i++
			p.flowSpace(indent)
			if c := p.peek(0); c == ',' || c == '}' {
				p.bail() // an empty value
			}
			p.stack = append(p.stack, p.flowNode(indent))
			p.flowSpace(indent)
		}
		switch p.peek(0) {
		case ',':
			p.i++
		case close:
		default:
			p.bail()
		}
	}
	n.Content = p.content(mark)
	return n
}

// flowSpace skips spaces, line feeds and comments inside a flow
// collection.
func (p *fastParser) flowSpace(indent int) {
	for !p.eof() {
		switch p.data[p.i] {
		case ' ':
			p.i++
		case '\n':
			p.newline()
			p.skipSpaces()
			if p.col() <= indent {
				p.bail()
			}
		case '#':
			if p.data[p.i-1] != ' ' && p.data[p.i-1] != '\n' {
				p.bail()
			}
			p.skipComment()
			p.skipSpaces()
			if p.col() <= indent {
				p.bail()
			}
		default:
			return
		}
	}
}

// flowNode parses one scalar or collection inside a flow collection.
func (p *fastParser) flowNode(indent int) *yaml.Node {
	if p.eof() {
		p.bail()
	}
	switch p.data[p.i] {
	case '[', '{':
		return p.flow(indent)
	case '"', '\'':
		return p.quoted()
	}
	v := p.node(yaml.ScalarNode, "")
	start := p.i
	for p.i < len(p.data) {
		c := p.data[p.i]
		if c == ',' || c == '[' || c == ']' || c == '{' || c == '}' || c == '\n' ||
			c == '#' && p.data[p.i-1] == ' ' {
			break
		}
		if c == ':' {
			if d := p.peek(1); d == ' ' || d == '\n' || d == ',' || d == ']' || d == '}' || d == 0 {
				break
			}
		}
		p.i++
	}
	end := p.i
	for end > start && p.data[end-1] == ' ' {
		end--
	}
	if p.peek(0) == '\n' || p.peek(0) == '#' {
		// A plain scalar may go on over the next line: only the end of
		// the entry may follow.
		save, line, ls := p.i, p.line, p.lineStart
		p.flowSpace(indent)
		if c := p.peek(0); c != ',' && c != ']' && c != '}' && c != ':' {
			p.bail()
		}
		p.i, p.line, p.lineStart = save, line, ls
	}
	p.plainScalar(v, p.data[start:end])
	return v
}

// quoted parses a quoted scalar that ends on its line and holds no
// escape (other than ” in single quotes).
func (p *fastParser) quoted() *yaml.Node {
	q := p.data[p.i]
	v := p.node(yaml.ScalarNode, "!!str")
	v.Style = yaml.DoubleQuotedStyle
	if q == '\'' {
		v.Style = yaml.SingleQuotedStyle
	}
	p.i++
	start := p.i
	doubled := false
	for {
		if p.eof() {
			p.bail()
		}
		c := p.data[p.i]
		switch {
		case c == '\n' || c == '\\' && q == '"':
			p.bail()
		case c == q && q == '\'' && p.peek(1) == '\'':
			doubled = true
			p.i += 2
			continue
		case c == q:
			s := string(p.data[start:p.i])
			if doubled {
				s = unquoteSingle(s)
			}
			v.Value = s
			p.i++
			return v
		}
		p.i++
	}
}

func unquoteSingle(s string) string {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		out = append(out, s[i])
		if s[i] == '\'' {
			i++
		}
	}
	return string(out)
}

// plainScalar sets n to the plain scalar text, with the tag yaml.v3
// resolves it to; anything it cannot resolve for certain is left to
// yaml.v3.
func (p *fastParser) plainScalar(n *yaml.Node, text []byte) {
	if len(text) == 0 {
		p.bail()
	}
	c := text[0]
	switch {
	case isLetter(c):
		switch string(text) {
		case "null", "Null", "NULL":
			n.Tag = "!!null"
		case "true", "True", "TRUE", "false", "False", "FALSE":
			n.Tag = "!!bool"
		default:
			n.Tag = "!!str"
		}
	case c == '~' && len(text) == 1:
		n.Tag = "!!null"
	case '0' <= c && c <= '9':
		switch digitsKind(text) {
		case 'i':
			n.Tag = "!!int"
		case 's':
			n.Tag = "!!str"
		default:
			p.bail()
		}
	case c == '/' || c == '_' || c == '$' || c == '(' || c == '=':
		n.Tag = "!!str"
	default:
		p.bail() // an indicator, a sign, a dot: yaml.v3 decides
	}
	n.Value = internValue(text)
}

// digitsKind is 'i' for a decimal integer yaml.v3 reads as one (no
// leading zero, within int64), 's' for digits with two dots or more (an
// address: not a number, not a date), 0 for anything else.
func digitsKind(text []byte) byte {
	dots := 0
	for _, c := range text {
		switch {
		case c == '.':
			dots++
		case c < '0' || c > '9':
			return 0
		}
	}
	switch {
	case dots >= 2 && text[len(text)-1] != '.':
		return 's'
	case dots > 0 || len(text) > 1 && text[0] == '0':
		return 0
	}
	if _, err := strconv.ParseInt(string(text), 10, 64); err != nil {
		return 0
	}
	return 'i'
}

// internValue returns text as a string, without allocating for the words
// every document repeats.
func internValue(text []byte) string {
	switch string(text) {
	case "apiVersion":
		return "apiVersion"
	case "kind":
		return "kind"
	case "metadata":
		return "metadata"
	case "name":
		return "name"
	case "spec":
		return "spec"
	case "dmplan/v1":
		return "dmplan/v1"
	case "Source":
		return "Source"
	case "Task":
		return "Task"
	case "host":
		return "host"
	case "port":
		return "port"
	case "user":
		return "user"
	case "password":
		return "password"
	case "mode":
		return "mode"
	case "target":
		return "target"
	case "sources":
		return "sources"
	case "tables":
		return "tables"
	case "routes":
		return "routes"
	case "from":
		return "from"
	case "to":
		return "to"
	}
	return string(text)
}
