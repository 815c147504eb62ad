package planner

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func samplePlan(t *testing.T) *Plan {
	t.Helper()
	cur := bigState(3, 2)
	want := bigState(4, 3)
	task := want.Tasks["task-00000"]
	task.Tables = []string{"task-00000.*"}
	want.Tasks["task-00000"] = task
	p := SealSecrets(Diff(want, cur, workers("agent-a")), cur)
	p.BaseRevision = 42
	return p
}

func TestPlanFileRoundTrip(t *testing.T) {
	p := samplePlan(t)
	var buf bytes.Buffer
	if err := WriteFile(&buf, p); err != nil {
		t.Fatal(err)
	}
	got, err := ReadFile(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(p, got); diff != "" {
		t.Errorf("plan changed on the way through a file (-wrote +read):\n%s", diff)
	}
	if got.Digest() != p.Digest() {
		t.Errorf("digest changed: %s -> %s", p.Digest(), got.Digest())
	}
	if _, digest, err := ReadFileDigest(bytes.NewReader(buf.Bytes())); err != nil || digest != p.Digest() {
		t.Errorf("ReadFileDigest = %s, %v; want %s", digest, err, p.Digest())
	}
	b, _ := json.Marshal(p)
	sum := sha256.Sum256(b)
	if want := "sha256:" + hex.EncodeToString(sum[:]); p.Digest() != want {
		t.Errorf("Digest = %s, want sha256 of json.Marshal = %s", p.Digest(), want)
	}
	if strings.Contains(buf.String(), "secret-value") {
		t.Error("plan file holds a password")
	}
}

func TestPlanFileReformattedIsAccepted(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteFile(&buf, samplePlan(t)); err != nil {
		t.Fatal(err)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, buf.Bytes()); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadFile(&compact); err != nil {
		t.Errorf("a compacted plan file is refused: %v", err)
	}
	// Re-encoded by another tool (here: keys in another order): the
	// plan is encoded again to check its digest.
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	reencoded, _ := json.MarshalIndent(m, "", "\t")
	if bytes.HasPrefix(reencoded, []byte(`{`+"\n\t"+`"formatVersion"`)) {
		t.Fatal("the re-encoded file kept the envelope's order")
	}
	p, digest, err := ReadFileDigest(bytes.NewReader(reencoded))
	if err != nil || digest != samplePlan(t).Digest() || p.BaseRevision != 42 {
		t.Errorf("a re-encoded plan file: digest %s, err %v", digest, err)
	}
}

func TestPlanFileRefused(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteFile(&buf, samplePlan(t)); err != nil {
		t.Fatal(err)
	}
	good := buf.String()
	tests := []struct {
		name string
		file string
		want error
	}{
		{"tampered value", strings.Replace(good, `"port": 4000`, `"port": 4001`, 1), ErrPlanCorrupt},
		{"tampered revision", strings.Replace(good, `"baseRevision": 42`, `"baseRevision": 43`, 1), ErrPlanCorrupt},
		{"digest removed", strings.Replace(good, `"digest": "sha256:`, `"digest": "sha256:0`, 1), ErrPlanCorrupt},
		{"truncated", good[:len(good)/2], ErrPlanCorrupt},
		{"not a plan", "hello", ErrPlanCorrupt},
		{"unknown field", strings.Replace(good, `"formatVersion": 1,`, `"formatVersion": 1, "extra": true,`, 1), ErrPlanCorrupt},
		{"newer version", strings.Replace(good, `"formatVersion": 1,`, `"formatVersion": 2,`, 1), ErrPlanVersion},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.file == good {
				t.Fatal("the test did not change the file")
			}
			_, err := ReadFile(strings.NewReader(tt.file))
			if !errors.Is(err, tt.want) {
				t.Errorf("ReadFile error = %v, want %v", err, tt.want)
			}
		})
	}
}
