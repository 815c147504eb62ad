package ddl

import (
	"testing"

	"github.com/dmplan/dmplan/internal/deptest"
)

// TestPure: the DDL planner uses the standard library only (TiDB's parser
// is for its tests).
func TestPure(t *testing.T) {
	deptest.Pure(t)
	deptest.Only(t)
}
