package refresh

import (
	"fmt"

	"github.com/dmplan/dmplan/spec"
	"github.com/dmplan/dmplan/units"
)

// Endpoint resolves e's password from getenv, as agents do, and checks it
// against its digest with the installation's hasher h. what names the
// endpoint in errors, which never hold the value.
func Endpoint(e spec.Endpoint, what string, h *spec.Hasher, getenv func(string) (string, bool)) (units.Endpoint, error) {
	out := units.Endpoint{Host: e.Host, Port: e.Port, User: e.User}
	if e.Password.IsZero() {
		return out, nil
	}
	ref := e.Password.Ref
	if ref == "" {
		return out, fmt.Errorf("the applied password of %s has no ${VAR} reference to read", what)
	}
	value, ok := getenv(ref)
	if !ok {
		return out, fmt.Errorf("$%s is not set (the password of %s): export it or pass --env-file", ref, what)
	}
	if !h.Matches(ref, value, e.Password.Digest) {
		return out, fmt.Errorf("$%s differs from the applied password of %s: use the value that was applied", ref, what)
	}
	out.Password = value
	return out, nil
}
