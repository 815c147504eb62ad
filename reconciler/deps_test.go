package reconciler

import (
	"testing"

	"github.com/dmplan/dmplan/internal/deptest"
)

// TestPure: the decision and its loop import no etcd, SQL, MySQL client,
// network or cobra; the units come in through job.RunFunc.
func TestPure(t *testing.T) { deptest.Pure(t) }
