package planner

import (
	"github.com/dmplan/dmplan/internal/binlogfilter"
	"github.com/dmplan/dmplan/internal/effect"
	"github.com/dmplan/dmplan/spec"
)

// EffectConfig is what the rule of internal/effect reads of a subtask and,
// when src is not nil, of its source. Passwords appear as reference and
// digest only.
func EffectConfig(sub Subtask, src *spec.Source) effect.Config {
	c := effect.Config{
		Mode:        effect.Mode(sub.Mode),
		Target:      effectEndpoint(sub.Target),
		Tables:      sub.Tables,
		DumpThreads: sub.Dump.Threads,
		SyncWorkers: sub.Sync.Workers,
		SyncBatch:   sub.Sync.Batch,

		AcceptLostCascades: sub.AcceptLostCascades,
		Validate:           string(sub.Validate.Mode),
		Filters:            binlogfilter.Key(sub.Filters),
		OnlineDDL:          sub.OnlineDDL.Key(),
		Shard:              shardKey(sub.ShardMode, sub.ShardDDL),
	}
	if src != nil {
		c.Source = effectEndpoint(src.Endpoint)
		c.Flavor = string(src.Flavor)
		c.Relay = src.RelayOn()
	}
	for _, r := range sub.Routes {
		c.Routes = append(c.Routes, effect.Route{From: r.From, To: r.To})
	}
	if sub.Start != nil {
		c.Start = &effect.Position{File: sub.Start.BinlogFile, Pos: sub.Start.BinlogPos, GTID: sub.Start.GTID, Time: sub.Start.Time}
	}
	return c
}

func effectEndpoint(e spec.Endpoint) effect.Endpoint {
	out := effect.Endpoint{Host: e.Host, Port: e.Port, User: e.User}
	if e.TLS != nil {
		out.TLS = renderTLS(*e.TLS)
	}
	if !e.Password.IsZero() {
		out.Secret = e.Password.Ref + ":" + e.Password.Digest
	}
	return out
}

// SubtaskEffect classifies the change from one subtask config to another
// (the stage is not part of the config and is ignored) with effect.Of, the
// rule the agent and its units follow too.
func SubtaskEffect(before, after Subtask) effect.Effect {
	return effect.Of(EffectConfig(before, nil), EffectConfig(after, nil))
}

func startEqual(a, b *spec.StartPos) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// ConfigFingerprint is the one digest of sub's config on src as applied
// (password digests as stored): what an agent's status of the subtask
// carries to say which applied config it reflects, and what
// `dmplan status --wait` compares it with (docs/status-format.md).
func ConfigFingerprint(sub Subtask, src *spec.Source) string {
	return effect.FingerprintOf(EffectConfig(sub, src)).Digest()
}
