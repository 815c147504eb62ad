package spec

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	yaml "go.yaml.in/yaml/v2"
)

// The loader needs the line of every key and value, which sigs.k8s.io/yaml
// loses by converting to JSON. go.yaml.in/yaml/v3 has a node tree with
// positions but is not a requirement of this module; go.yaml.in/yaml/v2 (the
// parser under sigs.k8s.io/yaml) is, and it has no node API. It does put the
// line in every type error, and it calls UnmarshalYAML for every non-null
// node. So a probe type that implements UnmarshalYAML learns its own line by
// decoding into a type that always fails (a channel), the names and lines of
// its keys by a strict decode into struct{} ("line N: field K not found"),
// and recurses into its values. The result is the small tree below; nothing
// else in the package knows how it was built. Positions are lines only
// (yaml.v2 reports no columns).

type nodeKind uint8

const (
	nullNode nodeKind = iota
	scalarNode
	mapNode
	seqNode
)

// node is one parsed YAML value with its line.
type node struct {
	kind  nodeKind
	line  int
	value any       // scalarNode: string, int, int64, uint64, float64, bool, ...
	keys  []mapItem // mapNode, in document order
	items []*node   // seqNode
	// badKeys are keys that are not scalars, with their lines.
	badKeys []int
}

type mapItem struct {
	name  string
	line  int
	value *node // never nil; a null value is a nullNode on the key's line
}

// syntaxError is a YAML error that ends the reading of a file.
type syntaxError struct {
	line int
	msg  string
}

func (e *syntaxError) Error() string { return fmt.Sprintf("line %d: %s", e.line, e.msg) }

// parseDocuments reads every document of data and returns their root
// nodes. Empty documents are left out. On a syntax error it returns the
// documents before it and the error.
func parseDocuments(data []byte) (docs []*node, err error) {
	defer func() {
		// yaml.v2 reports its own failures as errors; a panic here would be
		// a bug in it, and must not take the whole command down.
		if r := recover(); r != nil {
			err = &syntaxError{line: 1, msg: fmt.Sprintf("YAML parser failed: %v", r)}
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.SetStrict(true)
	for {
		var p probe
		err := dec.Decode(&p)
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			var se *syntaxError
			if errors.As(err, &se) {
				return docs, se
			}
			return docs, yamlSyntaxError(data, err)
		}
		if p.n != nil {
			docs = append(docs, p.n)
		}
	}
}

// yamlSyntaxError turns a yaml.v2 error into a syntaxError with a line.
// yaml.v2 leaves the line out for problems on the first line and for
// problems found while reading bytes (bad UTF-8, control characters); for
// those, the line of the first offending byte is found here.
func yamlSyntaxError(data []byte, err error) *syntaxError {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if n, tail, ok := strings.Cut(rest, ": "); ok {
			if line, err := strconv.Atoi(n); err == nil {
				return &syntaxError{line: line, msg: tail}
			}
		}
	}
	return &syntaxError{line: badByteLine(data), msg: msg}
}

// badByteLine returns the line of the first byte yaml.v2's reader rejects
// (invalid UTF-8, or a control character other than tab, LF and CR), or 1.
func badByteLine(data []byte) int {
	line := 1
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && size == 1 {
			return line
		}
		if r == '\n' {
			line++
		} else if r < 0x20 && r != '\t' && r != '\r' || r == 0x7f {
			return line
		}
		i += size
	}
	return 1
}

// probe builds a node from inside yaml.v2's decoder; see the comment at the
// top of this file. yaml.v2 never calls it for null values.
type probe struct{ n *node }

func (p *probe) UnmarshalYAML(unmarshal func(any) error) error {
	n := &node{}
	p.n = n
	var never chan struct{}
	line, tag, err := typeErrorAt(unmarshal(&never))
	if err != nil {
		return err
	}
	n.line = line
	switch tag {
	case "!!map":
		n.kind = mapNode
	case "!!seq":
		n.kind = seqNode
	default:
		// A scalar, or a node with a tag of its own: ask for its value.
		var v any
		if err := unmarshal(&v); err != nil && !isTypeError(err) {
			return atLine(n.line, err)
		}
		switch v.(type) {
		case map[any]any, []any:
			// A collection with a tag of its own (!foo {}): dmplan's
			// documents never need one.
			return &syntaxError{line: n.line, msg: fmt.Sprintf("the YAML tag %s is not supported", tag)}
		case nil:
			n.kind = nullNode
			return nil
		default:
			n.kind, n.value = scalarNode, v
			return nil
		}
	}
	if n.kind == seqNode {
		var items []*probe
		if err := unmarshal(&items); err != nil && !isTypeError(err) {
			return atLine(n.line, err)
		}
		for _, it := range items {
			n.items = append(n.items, it.node(n.line))
		}
		return nil
	}
	return p.mapping(unmarshal)
}

func (p *probe) mapping(unmarshal func(any) error) error {
	n := p.n
	// A strict decode into a struct without fields reports every key, in
	// order: "line N: field NAME not found in type struct {}". Keys that
	// cannot be read as a string are reported as "line N: cannot unmarshal".
	var none struct{}
	err := unmarshal(&none)
	var te *yaml.TypeError
	if err != nil && !errors.As(err, &te) {
		return atLine(n.line, err)
	}
	var keyErrs []string
	if te != nil {
		// Copy now: yaml.v2 reuses the array behind te.Errors for the
		// errors of the decodes that follow.
		keyErrs = append(keyErrs, te.Errors...)
	}
	var values map[string]*probe
	if err := unmarshal(&values); err != nil && !isTypeError(err) {
		return atLine(n.line, err)
	}
	for _, msg := range keyErrs {
		rest, ok := strings.CutPrefix(msg, "line ")
		if !ok {
			continue
		}
		num, rest, _ := strings.Cut(rest, ": ")
		line, _ := strconv.Atoi(num)
		name, ok := strings.CutPrefix(rest, "field ")
		if ok {
			name, ok = strings.CutSuffix(name, " not found in type struct {}")
		}
		if !ok {
			n.badKeys = append(n.badKeys, line)
			continue
		}
		n.keys = append(n.keys, mapItem{name: name, line: line, value: values[name].node(line)})
	}
	return nil
}

// node returns the probe's node, or a null node on line for a null value.
func (p *probe) node(line int) *node {
	if p == nil || p.n == nil {
		return &node{kind: nullNode, line: line}
	}
	return p.n
}

// typeErrorAt reads the line and tag of the single type error that decoding
// a node into a channel produces: "line N: cannot unmarshal !!TAG ...".
func typeErrorAt(err error) (line int, tag string, _ error) {
	var te *yaml.TypeError
	if !errors.As(err, &te) || len(te.Errors) == 0 {
		if err == nil {
			err = errors.New("internal error: a YAML node decoded into a channel")
		}
		return 0, "", err
	}
	msg := te.Errors[0]
	rest, _ := strings.CutPrefix(msg, "line ")
	num, rest, _ := strings.Cut(rest, ": ")
	line, _ = strconv.Atoi(num)
	rest, _ = strings.CutPrefix(rest, "cannot unmarshal ")
	tag, _, _ = strings.Cut(rest, " ")
	return line, tag, nil
}

func isTypeError(err error) bool {
	var te *yaml.TypeError
	return errors.As(err, &te)
}

// atLine gives a decoder failure (such as an alias that contains itself)
// the line of the node where it happened, unless it has one already.
func atLine(line int, err error) error {
	var se *syntaxError
	if errors.As(err, &se) {
		return se
	}
	return &syntaxError{line: line, msg: strings.TrimPrefix(err.Error(), "yaml: ")}
}
