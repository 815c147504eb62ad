package spec

import (
	"bytes"
	"regexp"
)

// unquotedRef is a ${VAR} that starts a plain scalar after a flow
// indicator or a key: `{…, password: ${X}}` or `[${X}]`. YAML does not
// allow it inside a flow mapping or list ('{' cannot continue a plain
// scalar there), which yaml.v3 reports as a bare syntax error.
var unquotedRef = regexp.MustCompile(`(?:^|[{\[,:])[ \t]*(\$\{[A-Za-z_][A-Za-z0-9_]*\})`)

// quoteHint returns advice for a YAML syntax error reported at line (1-based
// in data) when an unquoted ${VAR} in a flow collection on a line near it
// is the likely cause, else "". (yaml.v3 reports the error at the line of
// the reference, or at the line that opened the collection.)
func quoteHint(data []byte, line int) string {
	lines := bytes.Split(data, []byte("\n"))
	for l := max(1, line-3); l <= min(line+3, len(lines)); l++ {
		text := lines[l-1]
		loc := unquotedRef.FindSubmatchIndex(text)
		if loc == nil {
			continue
		}
		if bytes.ContainsAny(text[:loc[2]], "{[") || flowBefore(lines, l) {
			return "; inside {…} or […] quote the reference: \"" + string(text[loc[2]:loc[3]]) + "\" (or write the mapping in block style)"
		}
	}
	return ""
}

// flowBefore reports whether a flow collection opened on one of the few
// lines before l is still open (a mapping written over several lines).
func flowBefore(lines [][]byte, l int) bool {
	depth := 0
	for i := max(0, l-4); i < l-1; i++ {
		depth += bytes.Count(lines[i], []byte("{")) + bytes.Count(lines[i], []byte("[")) -
			bytes.Count(lines[i], []byte("}")) - bytes.Count(lines[i], []byte("]"))
	}
	return depth > 0
}
