package planner

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dmplan/dmplan/spec"
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

// TestDecodePlanIsUnmarshal: decoding a plan's JSON in chunks on every
// core gives what json.Unmarshal gives, whatever the chunk size, and
// leaves what it does not expect to json.Unmarshal.
func TestDecodePlanIsUnmarshal(t *testing.T) {
	defer func(n int) { chunkBytes = n }(chunkBytes)
	p := samplePlan(t)
	p.Live = []string{"subtask a/b is in error: \"quoted\", {braces} [brackets]"}
	p.Waiting = []string{"src-1"}
	empty := &Plan{FormatVersion: FormatVersion, Changes: []Change{}, Desired: State{Sources: map[string]spec.Source{}}}
	inputs := map[string][]byte{"sample": canonical(p), "empty": canonical(empty), "zero": canonical(&Plan{})}
	inputs["unknown field"] = append([]byte(`{"extra":[1,{"a":"}"}],`), canonical(p)[1:]...)
	inputs["twice"] = append([]byte(`{"changes":[],`), canonical(p)[1:]...)
	inputs["bad type"] = bytes.Replace(canonical(p), []byte(`"baseRevision":42`), []byte(`"baseRevision":"x"`), 1)
	inputs["bad change"] = bytes.Replace(canonical(p), []byte(`"kind":"task"`), []byte(`"kind":7`), 1)
	inputs["truncated"] = canonical(p)[:len(canonical(p))/2]
	for _, size := range []int{1, 64, 1 << 20} {
		chunkBytes = size
		for name, in := range inputs {
			var want Plan
			wantErr := json.Unmarshal(in, &want)
			got, err := decodePlan(bytes.Clone(in), false)
			if (err != nil) != (wantErr != nil) {
				t.Errorf("chunks of %d, %s: err %v, json.Unmarshal's %v", size, name, err, wantErr)
				continue
			}
			if wantErr == nil {
				if diff := cmp.Diff(&want, got); diff != "" {
					t.Errorf("chunks of %d, %s: differs from json.Unmarshal (-want +got):\n%s", size, name, diff)
				}
			}
		}
	}
}

func TestCompactInPlaceIsCompact(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteFile(&buf, samplePlan(t)); err != nil {
		t.Fatal(err)
	}
	for _, in := range []string{buf.String(), " { \"a\\\" \\\\\" : [ 1 ,\t2 ]\r\n, \"b c\": \"\\u00e9 \" } "} {
		var want bytes.Buffer
		if err := json.Compact(&want, []byte(in)); err != nil {
			t.Fatal(err)
		}
		if got := compactInPlace([]byte(in)); !bytes.Equal(got, want.Bytes()) {
			t.Errorf("compactInPlace(%.60q) = %.60q, want %.60q", in, got, want.Bytes())
		}
	}
}

// TestStreamBodyIsMarshal: the plan streamed in pieces is json.Marshal's
// output byte for byte, with every optional field set or not.
func TestStreamBodyIsMarshal(t *testing.T) {
	full := samplePlan(t)
	full.GitCommit = "abc<&>"
	full.Waiting = []string{"src-<1>"}
	full.Live = []string{"subtask a/b is in error: \"x\" & <y>"}
	full.Rewrite = []string{"SOURCE_PASSWORD"}
	full.Refresh = &Refresh{}
	for name, p := range map[string]*Plan{
		"sample": samplePlan(t), "full": full, "zero": {},
		"empty": {FormatVersion: FormatVersion, Changes: []Change{}, Desired: State{Sources: map[string]spec.Source{}, Bounds: map[string]string{}}},
	} {
		var got bytes.Buffer
		streamBody(p, func(b []byte) { got.Write(b) })
		want, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Bytes(), want) {
			t.Errorf("%s: streamed\n%s\nwant json.Marshal's\n%s", name, got.Bytes(), want)
		}
	}
}

// TestPlanFileToAFile: a plan written to a file (digest written over its
// placeholder) is byte for byte the one written to any other writer.
func TestPlanFileToAFile(t *testing.T) {
	p := samplePlan(t)
	var buf bytes.Buffer
	if err := WriteFile(&buf, p); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(filepath.Join(t.TempDir(), "p.plan"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := WriteFile(f, p); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, buf.Bytes()) {
		t.Errorf("the file differs from the buffer:\n%s\nwant\n%s", got, buf.Bytes())
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	read, digest, err := ReadFileDigest(f)
	if err != nil || digest != p.Digest() || read.BaseRevision != p.BaseRevision {
		t.Errorf("read back: digest %s (want %s), err %v", digest, p.Digest(), err)
	}
}

// canonical is the plan's JSON as hashed (the tests' reference): json.Marshal's output (compact,
// map keys sorted), so that the digest equals a plain SHA-256 of
// json.Marshal(p) that other packages may compute.
func canonical(p *Plan) []byte {
	b, err := json.Marshal(p)
	if err != nil {
		// A Plan holds only strings, ints, bools, slices and maps with
		// string keys: encoding cannot fail.
		panic(fmt.Sprintf("planner: encode plan: %v", err))
	}
	return b
}

// TestReadFileToApply: apply's reading of a plan file keeps every change's
// kind, name and action, the whole desired state and the digest.
func TestReadFileToApply(t *testing.T) {
	p := samplePlan(t)
	var buf bytes.Buffer
	if err := WriteFile(&buf, p); err != nil {
		t.Fatal(err)
	}
	got, digest, err := ReadFileToApply(bytes.NewReader(buf.Bytes()))
	if err != nil || digest != p.Digest() {
		t.Fatalf("digest %s (want %s), err %v", digest, p.Digest(), err)
	}
	want := *p
	want.Changes = nil
	for _, c := range p.Changes {
		want.Changes = append(want.Changes, Change{Kind: c.Kind, Name: c.Name, Action: c.Action})
	}
	if diff := cmp.Diff(&want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if got.Summary() != p.Summary() || got.HasChanges() != p.HasChanges() {
		t.Errorf("summary %+v, want %+v", got.Summary(), p.Summary())
	}
	tampered := bytes.Replace(buf.Bytes(), []byte(`"port": 4000`), []byte(`"port": 4001`), 1)
	if _, _, err := ReadFileToApply(bytes.NewReader(tampered)); !errors.Is(err, ErrPlanCorrupt) {
		t.Errorf("a tampered file: %v, want ErrPlanCorrupt", err)
	}
}
