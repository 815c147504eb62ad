package units

import "strings"

// createLines is a SHOW CREATE TABLE statement cut at its definitions:
// the "CREATE TABLE `t` (" line, one line per column, key or constraint
// (without its trailing comma), and the lines from the one that starts
// with ")" (the table options) on.
type createLines struct {
	head string
	defs []string
	tail []string
}

// splitCreate cuts ddl into its lines; false when it has no definitions
// between a first line and a closing ")" line.
func splitCreate(ddl string) (createLines, bool) {
	lines := strings.Split(ddl, "\n")
	end := len(lines) - 1
	for end > 0 && !strings.HasPrefix(lines[end], ")") {
		end--
	}
	if end <= 1 {
		return createLines{}, false
	}
	defs := make([]string, 0, end-1)
	for _, l := range lines[1:end] {
		defs = append(defs, strings.TrimSuffix(l, ","))
	}
	return createLines{head: lines[0], defs: defs, tail: lines[end:]}, true
}

// String puts the statement together again with defs.
func (c createLines) String() string {
	var b strings.Builder
	b.WriteString(c.head)
	b.WriteByte('\n')
	b.WriteString(strings.Join(c.defs, ",\n"))
	b.WriteByte('\n')
	b.WriteString(strings.Join(c.tail, "\n"))
	return b.String()
}
