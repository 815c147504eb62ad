package planner

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dmplan/dmplan/internal/golden"
	"github.com/dmplan/dmplan/spec"
	"github.com/google/go-cmp/cmp"
)

// Golden cases live in testdata/golden/planner/<case>/:
//
//	current.json  the current state and the live workers (goldenInput)
//	desired/      YAML loaded with spec.Load (absent: nothing is desired)
//	plan.txt, plan.json, plan.md   the expected renderings
//
// `go test ./planner -update` rewrites the expected files.

// goldenInput is the format of current.json.
type goldenInput struct {
	State        State    `json:"state"`
	Workers      []Worker `json:"workers"`
	BaseRevision int64    `json:"baseRevision,omitempty"`
}

// goldenEnv holds the passwords the YAML references. current.json files keep
// the digests spec.Digest gives for these values (or for other values, where
// a case changes a password).
var goldenEnv = map[string]string{
	"SOURCE_PASSWORD":  "source-pass-1",
	"MYSQL02_PASSWORD": "mysql02-pass-1",
	"TARGET_PASSWORD":  "target-pass-1",
	"REPLICA_PASSWORD": "replica-pass-1",
}

func goldenGetenv(k string) (string, bool) { v, ok := goldenEnv[k]; return v, ok }

func loadGoldenCase(t *testing.T, dir string) (goldenInput, State) {
	t.Helper()
	var in goldenInput
	raw, err := os.ReadFile(filepath.Join(dir, "current.json"))
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		t.Fatalf("%s/current.json: %v", dir, err)
	}
	desired := State{}
	if _, err := os.Stat(filepath.Join(dir, "desired")); err == nil {
		set, err := spec.Load([]string{filepath.Join(dir, "desired")}, goldenGetenv)
		if err != nil {
			t.Fatalf("load %s/desired: %v", dir, err)
		}
		desired = FromSpec(set)
	}
	return in, desired
}

func TestGolden(t *testing.T) {
	goldenDir := golden.Path(t, "planner")
	dirs, err := filepath.Glob(filepath.Join(goldenDir, "*", "current.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) < 12 {
		t.Fatalf("found %d golden cases under %s, want at least 12", len(dirs), goldenDir)
	}
	for _, f := range dirs {
		dir := filepath.Dir(f)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			in, desired := loadGoldenCase(t, dir)
			p := DiffRewriting(desired, in.State, in.Workers, LegacyRewriter(spec.NewHasher(nil), goldenGetenv))
			p.BaseRevision = in.BaseRevision
			// A case whose plan is refused (protected objects) has
			// refused.txt; the plan itself is still rendered below.
			refused := filepath.Join(dir, "refused.txt")
			if err := CheckProtected(p, in.State); err != nil {
				if !errors.Is(err, ErrProtected) {
					t.Fatalf("CheckProtected: %v", err)
				}
				golden.Check(t, "planner/"+filepath.Base(dir)+"/refused.txt", []byte(err.Error()+"\n"))
			} else if _, err := os.Stat(refused); err == nil {
				t.Errorf("the plan is not refused, but %s exists", refused)
			}

			var text, js, md bytes.Buffer
			if err := RenderText(&text, p, TextOptions{}); err != nil {
				t.Fatal(err)
			}
			if err := RenderJSON(&js, p); err != nil {
				t.Fatal(err)
			}
			if err := RenderMarkdown(&md, p); err != nil {
				t.Fatal(err)
			}
			golden.Check(t, "planner/"+filepath.Base(dir)+"/plan.txt", text.Bytes())
			golden.Check(t, "planner/"+filepath.Base(dir)+"/plan.json", js.Bytes())
			golden.Check(t, "planner/"+filepath.Base(dir)+"/plan.md", md.Bytes())

			// Applying the plan and planning again changes nothing.
			if again := Diff(p.Desired, p.Desired, in.Workers); again.HasChanges() {
				var b bytes.Buffer
				_ = RenderText(&b, again, TextOptions{})
				t.Errorf("planning Plan.Desired against itself gives changes:\n%s", b.String())
			}
			// A plan survives a plan file, which holds no password and no
			// digest: resolving its sealed passwords against the state it
			// was made from and the same environment gives back the
			// desired state exactly.
			sealed := SealSecrets(p, in.State)
			var file bytes.Buffer
			if err := WriteFile(&file, sealed); err != nil {
				t.Fatal(err)
			}
			back, err := ReadFile(bytes.NewReader(file.Bytes()))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(sealed, back); diff != "" {
				t.Errorf("plan file round trip (-wrote +read):\n%s", diff)
			}
			if err := ResolveSecrets(back, in.State, spec.NewHasher(nil), goldenGetenv); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(p.Desired, back.Desired); diff != "" {
				t.Errorf("resolved desired state (-planned +resolved):\n%s", diff)
			}
			for _, out := range []*bytes.Buffer{&text, &js, &md, &file} {
				for ref, pw := range goldenEnv {
					if strings.Contains(out.String(), pw) {
						t.Errorf("output shows the value of %s", ref)
					}
				}
				if bytes.Contains(out.Bytes(), []byte(spec.LegacyPrefix)) || bytes.Contains(out.Bytes(), []byte(spec.DigestPrefix)) {
					t.Error("output shows a secret digest")
				}
			}
		})
	}
}

// TestPlanFormatDocExample keeps the example in docs/plan-format.md true: it
// must hold the JSON and the text of the doc-example golden case verbatim.
func TestPlanFormatDocExample(t *testing.T) {
	doc, err := os.ReadFile("../docs/plan-format.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"plan.json", "plan.txt"} {
		want, err := os.ReadFile(golden.Path(t, "planner/doc-example/"+f))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(doc, want) {
			t.Errorf("docs/plan-format.md does not hold doc-example/%s verbatim; copy it there", f)
		}
	}
}
