package spec

import (
	"testing"

	"github.com/dmplan/dmplan/internal/deptest"
)

// TestPure: spec imports no etcd, SQL, MySQL client, network or cobra,
// directly or not: those belong to the edges (store, units, cmd).
func TestPure(t *testing.T) { deptest.Pure(t) }
