package planner

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/dmplan/dmplan/spec"
)

// sealedCase: mysql-01 and task shop are applied with SOURCE_PASSWORD=s1
// and TARGET_PASSWORD=t1; the desired state adds mysql-02 (SOURCE_PASSWORD
// too) and changes the target's password to t2.
func sealedCase(t *testing.T) (*Plan, State, *spec.Hasher) {
	t.Helper()
	h := spec.NewHasher([]byte("installation-salt-0123456789"))
	src := func(name, v string) spec.Source {
		s := testSource(name)
		s.Password = spec.Secret{Ref: "SOURCE_PASSWORD", Digest: h.Digest("SOURCE_PASSWORD", v)}
		return s
	}
	task := func(v string) spec.Task {
		tk := testTask("shop", "mysql-01")
		tk.Target.Password = spec.Secret{Ref: "TARGET_PASSWORD", Digest: h.Digest("TARGET_PASSWORD", v)}
		return tk
	}
	cur := State{Sources: map[string]spec.Source{"mysql-01": src("mysql-01", "s1")},
		Tasks: map[string]spec.Task{"shop": task("t1")}, Bounds: map[string]string{"mysql-01": "agent-a"}}
	want := State{Sources: map[string]spec.Source{"mysql-01": src("mysql-01", "s1"), "mysql-02": src("mysql-02", "s1")},
		Tasks: map[string]spec.Task{"shop": task("t2")}}
	p := Diff(want, cur, workers("agent-a"))
	return p, cur, h
}

func TestSealedPlanFile(t *testing.T) {
	p, cur, h := sealedCase(t)
	sealed := SealSecrets(p, cur)
	if got := sealed.Desired.Sources["mysql-01"].Password.Digest; got != SealedApplied {
		t.Errorf("unchanged password sealed as %q", got)
	}
	if got := sealed.Desired.Sources["mysql-02"].Password.Digest; got != SealedEnv {
		t.Errorf("new object's password sealed as %q", got)
	}
	if got := sealed.Desired.Tasks["shop"].Target.Password.Digest; got != SealedEnv {
		t.Errorf("changed password sealed as %q", got)
	}
	if p.Desired.Sources["mysql-01"].Password.Digest == SealedApplied {
		t.Fatal("SealSecrets changed the plan it was given")
	}
	var file bytes.Buffer
	if err := WriteFile(&file, p); err == nil {
		t.Fatal("WriteFile wrote a plan holding digests")
	}
	if err := WriteFile(&file, sealed); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{spec.DigestPrefix, spec.LegacyPrefix, "s1", "t2"} {
		if strings.Contains(file.String(), bad) {
			t.Errorf("the plan file holds %q:\n%s", bad, file.String())
		}
	}

	env := map[string]string{"SOURCE_PASSWORD": "s1", "TARGET_PASSWORD": "t2"}
	getenv := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	back, err := ReadFile(bytes.NewReader(file.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if err := ResolveSecrets(back, cur, h, getenv); err != nil {
		t.Fatal(err)
	}
	for name, s := range p.Desired.Sources {
		if back.Desired.Sources[name].Password != s.Password {
			t.Errorf("source %s resolved to %v, planned %v", name, back.Desired.Sources[name].Password, s.Password)
		}
	}
	if back.Desired.Tasks["shop"].Target.Password != p.Desired.Tasks["shop"].Target.Password {
		t.Error("the target's new password did not resolve to the planned digest")
	}

	// A plan file of an older dmplan, with digests, is refused.
	old := strings.Replace(file.String(), `"digest": "`+SealedApplied+`"`, `"digest": "`+cur.Sources["mysql-01"].Password.Digest+`"`, 1)
	if _, err := ReadFile(strings.NewReader(old)); !errors.Is(err, ErrPlanVersion) && !errors.Is(err, ErrPlanCorrupt) {
		t.Errorf("a plan file with a digest: %v", err)
	}
}

// Apply's environment must agree with the plan: what it refuses.
func TestResolveSecretsRefuses(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"new password unset", map[string]string{"SOURCE_PASSWORD": "s1"},
			"the plan sets the password of the target of task shop from ${TARGET_PASSWORD}, which is not set in apply's environment"},
		{"changed password holds the applied value", map[string]string{"SOURCE_PASSWORD": "s1", "TARGET_PASSWORD": "t1"},
			"the plan changes the password of the target of task shop (${TARGET_PASSWORD}), but apply's ${TARGET_PASSWORD} holds the applied value"},
		{"a kept password's variable changed since the plan", map[string]string{"SOURCE_PASSWORD": "s9", "TARGET_PASSWORD": "t2"},
			"apply's ${SOURCE_PASSWORD} is not the value the plan was made with: source mysql-01 and source mysql-02 would get different digests"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, cur, h := sealedCase(t)
			sealed := SealSecrets(p, cur)
			err := ResolveSecrets(sealed, cur, h, func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok })
			if !errors.Is(err, ErrSecretMoved) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one saying %q", err, tt.want)
			}
			for _, v := range tt.env {
				if strings.Contains(err.Error(), v) {
					t.Errorf("the error shows a password: %v", err)
				}
			}
		})
	}
}
