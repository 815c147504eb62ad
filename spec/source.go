package spec

import (
	"net/netip"
	"time"

	yaml "go.yaml.in/yaml/v3"
	"path/filepath"
	"strings"
)

var sourceFields = []string{"host", "port", "user", "password", "flavor", "worker", "tls", "relay"}

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
	s.Relay = d.relay(&o)
	return s
}

// relay decodes a Source's relay: enabled (a boolean, required) and
// retain (a Go duration of at least a minute).
func (d *decoder) relay(parent *object) *Relay {
	if parent.node("relay") == nil {
		return nil
	}
	o, ok := parent.child("relay", "enabled", "retain")
	if !ok {
		return nil
	}
	r := &Relay{}
	switch n := o.node("enabled"); {
	case n == nil:
		d.errorf(o.keyAt("enabled"), "%s is required (true or false)", o.fieldPath("enabled"))
	case n.Kind != yaml.ScalarNode || typeOf(n) != typeBool:
		d.errorf(o.valueAt("enabled"), "%s must be true or false, not %s", o.fieldPath("enabled"), describe(n))
	default:
		r.Enabled = n.Value == "true" || n.Value == "True" || n.Value == "TRUE"
	}
	if v := o.str("retain"); v != "" {
		dur, err := time.ParseDuration(v)
		switch {
		case err != nil:
			d.errorf(o.valueAt("retain"), "%s %q is not a duration (like 72h or 30m)", o.fieldPath("retain"), v)
		case dur < time.Minute:
			d.errorf(o.valueAt("retain"), "%s %q is under a minute", o.fieldPath("retain"), v)
		default:
			r.Retain = v
		}
	}
	return r
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
	e.TLS = d.tls(o)
	return e
}

// tls decodes an endpoint's tls: mode, and the files it needs.
func (d *decoder) tls(parent *object) *TLS {
	if parent.node("tls") == nil {
		return nil
	}
	o, ok := parent.child("tls", "mode", "ca", "cert", "key")
	if !ok {
		return nil
	}
	t := &TLS{Mode: TLSMode(o.str("mode")), CA: o.str("ca"), Cert: o.str("cert"), Key: o.str("key")}
	switch t.Mode {
	case TLSDisabled, TLSPreferred, TLSRequired, TLSVerifyCA, TLSVerifyIdentity:
	case "":
		d.errorf(o.keyAt("mode"), "%s is required (disabled, preferred, required, verify-ca or verify-identity)", o.fieldPath("mode"))
	default:
		d.errorf(o.valueAt("mode"), "%s %q is not a TLS mode (want disabled, preferred, required, verify-ca or verify-identity)", o.fieldPath("mode"), t.Mode)
	}
	if (t.Mode == TLSVerifyCA || t.Mode == TLSVerifyIdentity) && t.CA == "" {
		d.errorf(o.keyAt("ca"), "%s is required by mode %s: the CA that signed the server's certificate", o.fieldPath("ca"), t.Mode)
	}
	if t.Mode == TLSDisabled && (t.CA != "" || t.Cert != "" || t.Key != "") {
		d.errorf(o.keyAt("mode"), "%s is disabled but certificate files are given: remove them or choose another mode", o.fieldPath("mode"))
	}
	if (t.Cert == "") != (t.Key == "") {
		d.errorf(o.keyAt("cert"), "%s and %s go together: a client certificate needs its key", o.fieldPath("cert"), o.fieldPath("key"))
	}
	for _, f := range []string{"ca", "cert", "key"} {
		if v := o.str(f); v != "" && !filepath.IsAbs(v) {
			d.errorf(o.valueAt(f), "%s %q must be an absolute path (it is read on the agents' machines)", o.fieldPath(f), v)
		}
	}
	return t
}
