package job

import (
	"testing"

	"github.com/dmplan/dmplan/internal/deptest"
)

// TestPure: the units' contract imports the standard library only, so the
// agent's decision can use it without the engines.
func TestPure(t *testing.T) { deptest.Only(t) }
