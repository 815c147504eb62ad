package effect

import (
	"testing"

	"github.com/dmplan/dmplan/internal/deptest"
)

// TestPure: the rule of a change's effect, shared by planner, reconciler
// and units, uses the standard library only.
func TestPure(t *testing.T) { deptest.Only(t) }
