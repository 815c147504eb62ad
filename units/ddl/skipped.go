package ddl

import "strings"

// skippedKind reads the leading words of a statement the lexer cannot read
// and reports whether it is of a kind dmplan never replicates: account and
// privilege statements, SET, FLUSH and table maintenance, and CREATE,
// ALTER or DROP of users, roles, views, routines, triggers, events and
// servers, or of temporary tables. kind names what was recognised ("" when
// nothing) for the error of a statement that is not skipped.
func skippedKind(query string) (kind string, skipped bool) {
	words := leadingWords(query, 12)
	if len(words) == 0 {
		return "", false
	}
	first := words[0]
	switch first {
	case "GRANT", "REVOKE", "SET", "FLUSH", "ANALYZE", "OPTIMIZE", "CHECK", "REPAIR", "CHECKSUM",
		"INSTALL", "UNINSTALL", "XA", "SAVEPOINT", "RELEASE", "SHUTDOWN", "KILL", "DO", "CALL",
		"BEGIN", "COMMIT", "ROLLBACK", "RESET", "PURGE", "CHANGE", "START", "STOP", "HANDLER":
		return first, true
	case "CREATE", "ALTER", "DROP":
	default:
		return "", false
	}
	for _, w := range words[1:] {
		switch w {
		case "USER", "ROLE", "VIEW", "PROCEDURE", "FUNCTION", "TRIGGER", "EVENT", "SERVER", "TEMPORARY", "PACKAGE", "AGGREGATE":
			return first + " " + w, true
		case "TABLE", "DATABASE", "SCHEMA", "INDEX", "SEQUENCE", "TABLESPACE":
			return first + " " + w, false
		}
	}
	return first, false
}

// leadingWords returns up to n upper-cased words at the start of query,
// stopping at the first character that is not part of a plain word, an
// '=', '@' or a backquoted name (DEFINER=`u`@`h`), and skipping comments.
func leadingWords(query string, n int) []string {
	var out []string
	i := 0
	for i < len(query) && len(out) < n {
		c := query[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '=' || c == '@':
			i++
		case strings.HasPrefix(query[i:], "/*"):
			end := strings.Index(query[i+2:], "*/")
			if end < 0 {
				return out
			}
			i += end + 4
		case c == '`':
			end := strings.IndexByte(query[i+1:], '`')
			if end < 0 {
				return out
			}
			i += end + 2
		case c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9':
			j := i
			for j < len(query) && (query[j] == '_' || query[j] >= 'a' && query[j] <= 'z' || query[j] >= 'A' && query[j] <= 'Z' || query[j] >= '0' && query[j] <= '9') {
				j++
			}
			out = append(out, strings.ToUpper(query[i:j]))
			i = j
		default:
			return out
		}
	}
	return out
}
