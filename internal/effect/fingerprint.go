package effect

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
)

// Fingerprint is a config reduced to one digest per effect: what an agent
// keeps of the config a unit runs with. Between of two fingerprints is Of
// of the two configs (a test checks it), so the agent decides without
// holding configs.
type Fingerprint struct {
	Fresh   string `json:"fresh"`
	Restart string `json:"restart"`
	Tuning  string `json:"tuning"`
}

// FingerprintOf digests c's fields by their effect under c's mode; a
// field of effect None under that mode is left out. The mode is a Fresh
// field, so two configs of different modes differ in Fresh.
func FingerprintOf(c Config) Fingerprint {
	parts := map[Effect][]any{}
	for _, f := range Fields {
		e := f.Effect(c.Mode)
		parts[e] = append(parts[e], []any{f.Name, normal(f.value(c))})
	}
	return Fingerprint{Fresh: digest(parts[Fresh]), Restart: digest(parts[Restart]), Tuning: digest(parts[Tuning])}
}

// Between is the effect of going from the config a to the config b,
// given their fingerprints.
func Between(a, b Fingerprint) Effect {
	switch {
	case a.Fresh != b.Fresh:
		return Fresh
	case a.Restart != b.Restart:
		return Restart
	case a.Tuning != b.Tuning:
		return Tuning
	}
	return None
}

// normal makes nil and empty lists digest alike (equal treats them so).
func normal(v any) any {
	switch x := v.(type) {
	case []string:
		if len(x) == 0 {
			return []string{}
		}
	case []Route:
		if len(x) == 0 {
			return []Route{}
		}
	}
	return v
}

func digest(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic("effect: digest: " + err.Error()) // plain value types always marshal
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// Digest is f as one short digest (16 hex digits) of its three parts:
// what a subtask's status carries to say which config it reflects
// (store.SubtaskStatus.ConfigFingerprint), so that a reader of the applied
// state (`dmplan status --wait`) can tell a status of the config applied
// last from one of an earlier config.
func (f Fingerprint) Digest() string { return digest([]string{f.Fresh, f.Restart, f.Tuning}) }
