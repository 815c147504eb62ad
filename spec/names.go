package spec

import (
	"errors"
	"regexp"
)

var (
	dnsLabel   = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	workerName = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9._-]{0,251}[A-Za-z0-9])?$`)
)

// CheckName reports whether name is a valid Source or Task name: a DNS
// label of 1 to 63 characters of a-z, 0-9 and "-", starting and ending with
// a letter or digit. Names become parts of etcd keys and of subtask names
// ("task/source"), so they can hold no "/" or ".".
func CheckName(name string) error {
	if dnsLabel.MatchString(name) {
		return nil
	}
	return errors.New(`must be 1 to 63 characters of a-z, 0-9 and "-", starting and ending with a letter or digit`)
}

// CheckWorkerName reports whether name is a valid agent name, as a Source's
// worker field gives it: 1 to 253 characters of letters, digits, ".", "_"
// and "-", starting and ending with a letter or digit (a host name fits).
func CheckWorkerName(name string) error {
	if workerName.MatchString(name) {
		return nil
	}
	return errors.New(`must be 1 to 253 characters of letters, digits, ".", "_" and "-", starting and ending with a letter or digit`)
}
