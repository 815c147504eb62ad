package reconciler

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"

	"github.com/dmplan/dmplan/planner"
	"github.com/dmplan/dmplan/spec"
)

// FingerprintOf computes a subtask's fingerprint from its applied config
// and its source. It reads password digests (spec.Secret), never values:
// a rotated password changes the digest, hence the Restart part.
//
// Restart: mode, the source's and the target's endpoints (host, port,
// user, password reference and digest), the source's flavor, tables,
// routes and start position. Live: dump threads (modes full and all) and
// sync workers and batch (modes incremental and all) — tuning that a mode
// does not use is left out, so changing it does nothing.
func FingerprintOf(sub planner.Subtask, src spec.Source) Fingerprint {
	restart := struct {
		Mode   spec.Mode      `json:"mode"`
		Source spec.Endpoint  `json:"source"`
		Flavor spec.Flavor    `json:"flavor"`
		Target spec.Endpoint  `json:"target"`
		Tables []string       `json:"tables"`
		Routes []spec.Route   `json:"routes"`
		Start  *spec.StartPos `json:"start"`
	}{sub.Mode, src.Endpoint, src.Flavor, sub.Target, sub.Tables, sub.Routes, sub.Start}
	live := struct {
		Dump *spec.DumpConfig `json:"dump,omitempty"`
		Sync *spec.SyncConfig `json:"sync,omitempty"`
	}{}
	if sub.Mode != spec.ModeIncremental {
		live.Dump = &sub.Dump
	}
	if sub.Mode != spec.ModeFull {
		live.Sync = &sub.Sync
	}
	return Fingerprint{Restart: digest(restart), Live: digest(live)}
}

func digest(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic("reconciler: fingerprint: " + err.Error()) // plain value types always marshal
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}
