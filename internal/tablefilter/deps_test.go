package tablefilter

import (
	"testing"

	"github.com/dmplan/dmplan/internal/deptest"
)

// TestPure: the table filter, shared by spec, planner and units, uses the
// standard library only.
func TestPure(t *testing.T) { deptest.Only(t) }
