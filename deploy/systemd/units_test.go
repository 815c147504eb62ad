// Package systemd holds the systemd units of dmplan server and agent; this
// test checks them with systemd-analyze verify.
package systemd

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The units pass systemd-analyze verify with no complaint at all (it exits
// 0 on unknown keys and bad values, so any output fails the test). The
// binary path is pointed at an executable of the test's own, since
// /usr/local/bin/dmplan is not installed here.
func TestUnitsVerify(t *testing.T) {
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed (Debian package systemd): the units are not checked")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "dmplan")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	var units []string
	for _, name := range []string{"dmplan-server.service", "dmplan-agent.service"} {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"EnvironmentFile=/etc/dmplan/", "Restart=", "NoNewPrivileges=yes", "ProtectSystem=strict", "ExecStart=/usr/local/bin/dmplan "} {
			if !strings.Contains(string(b), want) {
				t.Errorf("%s lacks %q", name, want)
			}
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(strings.ReplaceAll(string(b), "/usr/local/bin/dmplan", bin)), 0o644); err != nil {
			t.Fatal(err)
		}
		units = append(units, p)
	}
	out, err := exec.Command(sa, append([]string{"verify", "--man=no"}, units...)...).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}
