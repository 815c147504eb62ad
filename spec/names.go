package spec

import "errors"

// CheckName reports whether name is a valid Source or Task name: a DNS
// label of 1 to 63 characters of a-z, 0-9 and "-", starting and ending with
// a letter or digit. Names become parts of etcd keys and of subtask names
// ("task/source"), so they can hold no "/" or ".".
func CheckName(name string) error {
	if len(name) <= 63 && isLabel(name, func(c byte) bool { return c == '-' || isLowerAlnum(c) }) {
		return nil
	}
	return errors.New(`must be 1 to 63 characters of a-z, 0-9 and "-", starting and ending with a letter or digit`)
}

// CheckWorkerName reports whether name is a valid agent name, as a Source's
// worker field gives it: 1 to 253 characters of letters, digits, ".", "_"
// and "-", starting and ending with a letter or digit (a host name fits).
func CheckWorkerName(name string) error {
	if len(name) <= 253 && isLabel(name, func(c byte) bool { return c == '.' || c == '_' || c == '-' || isAlnum(c) }) {
		return nil
	}
	return errors.New(`must be 1 to 253 characters of letters, digits, ".", "_" and "-", starting and ending with a letter or digit`)
}

// isLabel reports whether name is not empty, starts and ends with an ASCII
// letter or digit, and holds only bytes inner accepts in between. (The
// callers' inner sets accept only ASCII letters and digits among those.)
func isLabel(name string, inner func(byte) bool) bool {
	if name == "" || !isAlnum(name[0]) || !isAlnum(name[len(name)-1]) {
		return false
	}
	for i := 0; i < len(name); i++ {
		if !inner(name[i]) {
			return false
		}
	}
	return true
}

func isLowerAlnum(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'z' }

func isAlnum(c byte) bool { return isLowerAlnum(c) || 'A' <= c && c <= 'Z' }
