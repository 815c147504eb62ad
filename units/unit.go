package units

import "github.com/dmplan/dmplan/units/job"

// The units' contract types live in units/job, a package without I/O, so
// that the agent's pure decision (reconciler) can use them without
// importing the engines; units names them too.
type (
	Endpoint      = job.Endpoint
	TLS           = job.TLS
	Route         = job.Route
	Position      = job.Position
	Mode          = job.Mode
	Config        = job.Config
	Progress      = job.Progress
	Reporter      = job.Reporter
	ReporterFunc  = job.ReporterFunc
	RunFunc       = job.RunFunc
	Validation    = job.Validation
	ValidationRow = job.ValidationRow

	ShardResolution = job.ShardResolution
)

// Modes (job's).
const (
	ModeFull        = job.ModeFull
	ModeIncremental = job.ModeIncremental
	ModeAll         = job.ModeAll
)
