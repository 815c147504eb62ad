package effect

import (
	"reflect"
	"slices"
)

// Effect is what a change of a subtask's config does to its units, from
// the least to the most disruptive.
type Effect int

const (
	// None: nothing a unit reads changed.
	None Effect = iota
	// Tuning: dump threads or sync workers/batch changed. The units stop
	// and start again from their checkpoints with the new tuning; a mode
	// full subtask that has finished stays finished.
	Tuning
	// Restart: the units stop and start again from their checkpoints;
	// modes all and full first copy tables the filter newly matches.
	Restart
	// Fresh: the checkpoints no longer apply; the subtask starts over.
	Fresh
)

func (e Effect) String() string {
	switch e {
	case None:
		return "none"
	case Tuning:
		return "tuning"
	case Restart:
		return "restart"
	case Fresh:
		return "fresh"
	}
	return "unknown"
}

// Mode is a subtask's mode: "full", "incremental" or "all".
type Mode string

const (
	ModeFull        Mode = "full"
	ModeIncremental Mode = "incremental"
	ModeAll         Mode = "all"
)

// Endpoint is a server as the rule sees it. Secret is the password's
// reference and digest (spec.Secret's form), never its value.
type Endpoint struct {
	Host   string `json:"host"`
	Port   int    `json:"port"`
	User   string `json:"user"`
	Secret string `json:"secret,omitempty"`
	TLS    string `json:"tls,omitempty"` // mode and files, rendered; "" without tls
}

// Route sends source tables matching From to To (the JSON form without
// tags is part of FreshKey: keep it).
type Route struct{ From, To string }

// Position is a start position given in the spec.
type Position struct {
	File string `json:"file,omitempty"`
	Pos  uint32 `json:"pos,omitempty"`
	GTID string `json:"gtid,omitempty"`
	Time string `json:"time,omitempty"` // RFC 3339, UTC
}

// Config is what of a subtask's config a unit reads.
type Config struct {
	Mode   Mode
	Source Endpoint
	Flavor string
	Target Endpoint
	Tables []string
	Routes []Route
	Start  *Position // nil: none given

	DumpThreads int
	SyncWorkers int
	SyncBatch   int

	AcceptLostCascades []string
	Validate           string // "" (none), "fast" or "full"

	// Filters and OnlineDDL are the canonical texts of spec.filters
	// (binlogfilter.Key) and spec.onlineDDL (onlineddl.Config.Key).
	Filters   string
	OnlineDDL string

	// Relay: the source's relay is on, sync reads the binlog from it
	// (docs/relay.md).
	Relay bool
	// Shard is the canonical text of spec.shardMode and spec.shardDDL.
	Shard string
}

// Field is one field of Config as the rule classifies it.
type Field struct {
	Name string // as the user writes it: "spec.sync.workers"
	// Effect of changing it, under the mode the subtask changes to.
	Effect func(m Mode) Effect
	value  func(c Config) any
}

func always(e Effect) func(Mode) Effect { return func(Mode) Effect { return e } }

// Fields is the rule, field by field (doc.go has it as a table).
var Fields = []Field{
	{"spec.mode", always(Fresh), func(c Config) any { return c.Mode }},
	{"spec.target.host", always(Fresh), func(c Config) any { return c.Target.Host }},
	{"spec.target.port", always(Fresh), func(c Config) any { return c.Target.Port }},
	{"spec.routes", func(m Mode) Effect {
		if m == ModeIncremental {
			return Restart // only changes from now on follow the new routes
		}
		return Fresh // copied rows sit where the old routes put them
	}, func(c Config) any { return c.Routes }},
	{"spec.start", func(m Mode) Effect {
		if m == ModeIncremental {
			return Fresh
		}
		return None // modes all and full start from their snapshot
	}, func(c Config) any { return c.Start }},
	{"spec.tables", always(Restart), func(c Config) any { return c.Tables }},
	{"spec.target.user", always(Restart), func(c Config) any { return c.Target.User }},
	{"spec.target.password", always(Restart), func(c Config) any { return c.Target.Secret }},
	{"spec.target.tls", always(Restart), func(c Config) any { return c.Target.TLS }},
	{"source.host", always(Restart), func(c Config) any { return c.Source.Host }},
	{"source.port", always(Restart), func(c Config) any { return c.Source.Port }},
	{"source.user", always(Restart), func(c Config) any { return c.Source.User }},
	{"source.password", always(Restart), func(c Config) any { return c.Source.Secret }},
	{"source.tls", always(Restart), func(c Config) any { return c.Source.TLS }},
	{"source.flavor", always(Restart), func(c Config) any { return c.Flavor }},
	{"source.relay", func(m Mode) Effect {
		if m == ModeFull {
			return None // reads no binlog
		}
		return Restart // sync reconnects to the relay, or to the source
	}, func(c Config) any { return c.Relay }},
	{"spec.dump.threads", func(m Mode) Effect {
		if m == ModeIncremental {
			return None // runs no dump
		}
		return Tuning
	}, func(c Config) any { return c.DumpThreads }},
	{"spec.acceptLostCascades", func(m Mode) Effect {
		if m == ModeFull {
			return None // the foreign keys are checked by sync only
		}
		return Restart
	}, func(c Config) any { return c.AcceptLostCascades }},
	{"spec.filters", syncRestart, func(c Config) any { return c.Filters }},
	{"spec.onlineDDL", syncRestart, func(c Config) any { return c.OnlineDDL }},
	{"spec.shardMode", syncRestart, func(c Config) any { return c.Shard }},
	{"spec.sync.workers", syncTuning, func(c Config) any { return c.SyncWorkers }},
	{"spec.sync.batch", syncTuning, func(c Config) any { return c.SyncBatch }},
	{"spec.validate.mode", syncTuning, func(c Config) any { return c.Validate }},
}

// syncRestart: a field only sync reads (binlog events), taken when it starts.
func syncRestart(m Mode) Effect {
	if m == ModeFull {
		return None // runs no sync
	}
	return Restart
}

func syncTuning(m Mode) Effect {
	if m == ModeFull {
		return None // runs no sync
	}
	return Tuning
}

// Change is one changed field and its effect.
type Change struct {
	Field  string
	Effect Effect
}

// Changes lists the fields that differ between before and after with
// their effects under after's mode, in the order of Fields. Fields whose
// change reaches no unit are listed with None.
func Changes(before, after Config) []Change {
	var out []Change
	for _, f := range Fields {
		if !equal(f.value(before), f.value(after)) {
			out = append(out, Change{f.Name, f.Effect(after.Mode)})
		}
	}
	return out
}

// Of is the effect of changing a subtask's config from before to after:
// the strongest of its changes.
func Of(before, after Config) Effect {
	e := None
	for _, c := range Changes(before, after) {
		e = max(e, c.Effect)
	}
	return e
}

// equal compares field values; nil and empty lists are equal.
func equal(a, b any) bool {
	switch x := a.(type) {
	case []string:
		return slices.Equal(x, b.([]string))
	case []Route:
		return slices.Equal(x, b.([]Route))
	case *Position:
		y := b.(*Position)
		if x == nil || y == nil {
			return x == y
		}
		return *x == *y
	}
	return reflect.DeepEqual(a, b)
}
