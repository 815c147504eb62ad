package ownership

import (
	"testing"

	"github.com/dmplan/dmplan/internal/deptest"
)

// TestPure: the ownership rule, shared by planner and units, uses the
// standard library only.
func TestPure(t *testing.T) { deptest.Only(t) }
