package job

import (
	"testing"

	"github.com/dmplan/dmplan/internal/deptest"
)

// TestPure: the units' contract imports the standard library and the pure
// rule packages only, so the agent's decision can use it without the engines.
func TestPure(t *testing.T) {
	deptest.Only(t, "github.com/dmplan/dmplan/internal/binlogfilter", "github.com/dmplan/dmplan/internal/onlineddl", "github.com/dmplan/dmplan/internal/shardjoin",
		"github.com/dmplan/dmplan/internal/tablefilter")
}
