package planner

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/dmplan/dmplan/spec"
)

// StateFormatVersion is the version of the state file format
// (docs/plan-format.md, "State file"). Bump it on any incompatible change.
const StateFormatVersion = 1

// ErrStateFile: a state file that is not one, or of another version.
var ErrStateFile = errors.New("not a dmplan state file of a version this dmplan reads")

// StateFile is what `dmplan state pull` writes and `dmplan plan --state`
// plans against, offline: the applied state as of one etcd revision, the
// live workers bounds are scheduled on, and the installation's salt, so
// that the desired passwords get the digests they would get against etcd.
// Secrets are references and digests, never values.
type StateFile struct {
	FormatVersion int `json:"formatVersion"`
	// Revision is the revision of the applied state (Plan.BaseRevision):
	// a plan made from the file is refused by apply once etcd moved past it.
	Revision int64 `json:"revision"`
	// Salt is the installation's salt of password digests (base64).
	Salt    []byte   `json:"salt"`
	State   State    `json:"state"`
	Workers []Worker `json:"workers"`
	// Live is what the agents reported at the time (Plan.Live).
	Live []string `json:"live,omitempty"`
}

// WriteStateFile writes f as indented JSON with sorted map keys, so that two
// pulls of the same state are the same bytes.
func WriteStateFile(w io.Writer, f *StateFile) error {
	out := *f
	out.FormatVersion = StateFormatVersion
	if out.Workers == nil {
		out.Workers = []Worker{}
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		return fmt.Errorf("write state file: %w", err)
	}
	return nil
}

// ReadStateFile reads a state file; unknown fields and other versions are
// refused (ErrStateFile).
func ReadStateFile(r io.Reader) (*StateFile, error) {
	var f StateFile
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("read state file: %w: %v", ErrStateFile, err)
	}
	if f.FormatVersion != StateFormatVersion {
		return nil, fmt.Errorf("read state file: %w: it has version %d, this dmplan reads %d", ErrStateFile, f.FormatVersion, StateFormatVersion)
	}
	if len(f.Salt) < 16 {
		return nil, fmt.Errorf("read state file: %w: no installation salt", ErrStateFile)
	}
	if f.State.Sources == nil {
		f.State.Sources = map[string]spec.Source{}
	}
	if f.State.Tasks == nil {
		f.State.Tasks = map[string]spec.Task{}
	}
	if f.State.Bounds == nil {
		f.State.Bounds = map[string]string{}
	}
	return &f, nil
}
