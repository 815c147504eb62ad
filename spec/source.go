package spec

import (
	"net/netip"
	"strings"
)

var sourceFields = []string{"host", "port", "user", "password", "flavor", "worker"}

// source decodes the spec of a Source document doc.
func (d *decoder) source(doc *object, name string) Source {
	s := Source{Name: name}
	o, ok := doc.child("spec", sourceFields...)
	if !ok {
		return s
	}
	s.Endpoint = d.endpoint(&o)
	if f := o.str("flavor"); f != "" {
		switch Flavor(f) {
		case FlavorMySQL, FlavorMariaDB:
			s.Flavor = Flavor(f)
		default:
			d.errorf(o.valueAt("flavor"), "spec.flavor %q is not a flavor (want mysql or mariadb, or leave it out to detect it)", f)
		}
	}
	if w := o.str("worker"); w != "" {
		if err := CheckWorkerName(w); err != nil {
			d.errorf(o.valueAt("worker"), "spec.worker %q is not a valid agent name: %v", w, err)
		} else {
			s.Worker = w
		}
	}
	return s
}

// endpoint decodes host, port, user and password of a Source's spec or a
// Task's spec.target.
func (d *decoder) endpoint(o *object) Endpoint {
	e := Endpoint{
		Host:     o.str("host"),
		Port:     int(o.integer("port", DefaultPort, 1, 65535)),
		User:     o.str("user"),
		Password: o.password("password"),
	}
	switch {
	case o.missing("host"):
		d.errorf(o.keyAt("host"), "%s is required", o.fieldPath("host"))
	case e.Host == "":
	case strings.ContainsAny(e.Host, " \t\r\n/"):
		d.errorf(o.valueAt("host"), "%s %q must be a host name or IP address", o.fieldPath("host"), e.Host)
	case strings.Contains(e.Host, ":"):
		if _, err := netip.ParseAddr(e.Host); err != nil {
			d.errorf(o.valueAt("host"), "%s %q must be a host name or IP address without a port (give the port as %s)", o.fieldPath("host"), e.Host, o.fieldPath("port"))
		}
	}
	if o.missing("user") {
		d.errorf(o.keyAt("user"), "%s is required", o.fieldPath("user"))
	}
	return e
}
