package agent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestEnvFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "agent.env")
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("# passwords\nSOURCE_PASSWORD=one\nexport TARGET_PASSWORD='two words'\nQUOTED=\"a\\tb\"\n\n")
	fallback := func(k string) (string, bool) {
		if k == "HOME_ONLY" {
			return "from-env", true
		}
		return "", false
	}
	e, err := NewEnvFile(path, fallback, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{"SOURCE_PASSWORD": "one", "TARGET_PASSWORD": "two words", "QUOTED": "a\tb", "HOME_ONLY": "from-env"} {
		if v, ok := e.Lookup(k); !ok || v != want {
			t.Errorf("%s = %q, %v; want %q", k, v, ok, want)
		}
	}
	if _, ok := e.Lookup("MISSING"); ok {
		t.Error("MISSING is set")
	}
	// Rewritten: the next lookup sees the new value.
	write("SOURCE_PASSWORD=rotated-value\n")
	if v, _ := e.Lookup("SOURCE_PASSWORD"); v != "rotated-value" {
		t.Errorf("after rewrite SOURCE_PASSWORD = %q", v)
	}
	// A broken file keeps the last good values; errors never show values.
	write("SOURCE_PASSWORD=ok\nthis line has no equals sign secret-ish\n")
	if v, _ := e.Lookup("SOURCE_PASSWORD"); v != "rotated-value" {
		t.Errorf("after a bad rewrite SOURCE_PASSWORD = %q", v)
	}
	if _, err := NewEnvFile(path, nil, nil); err == nil || strings.Contains(err.Error(), "secret-ish") || !strings.Contains(err.Error(), "agent.env:2") {
		t.Errorf("bad file error = %v", err)
	}
	if _, err := NewEnvFile(filepath.Join(t.TempDir(), "none"), nil, nil); err == nil {
		t.Error("a missing env file is accepted")
	}
}
