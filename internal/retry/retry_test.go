package retry

import (
	"context"
	"testing"
	"time"

	"github.com/dmplan/dmplan/internal/deptest"
	_ "github.com/dmplan/dmplan/internal/golden" // -update, as every test binary
)

// TestPolicy: delays double from first up to the cap, each within ±50%,
// and not all equal (jitter); Reset starts over.
func TestPolicy(t *testing.T) {
	const first, max = 100 * time.Millisecond, 800 * time.Millisecond
	b := New(first, max)
	base := first
	seen := map[time.Duration]bool{}
	for i := range 12 {
		d := b.NextBackOff()
		lo, hi := time.Duration(float64(base)*(1-Jitter)), time.Duration(float64(base)*(1+Jitter))
		if d < lo || d > hi {
			t.Errorf("delay %d = %v, want within [%v, %v]", i, d, lo, hi)
		}
		seen[d] = true
		base = min(base*Multiplier, max)
	}
	if len(seen) < 6 {
		t.Errorf("only %d distinct delays in 12: no jitter?", len(seen))
	}
	b.Reset()
	if d := b.NextBackOff(); d > time.Duration(float64(first)*(1+Jitter)) {
		t.Errorf("after Reset the delay is %v, want about %v", d, first)
	}
}

func TestSleep(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Sleep(ctx, time.Hour); err != context.Canceled {
		t.Errorf("Sleep with an ended context = %v", err)
	}
	if err := Sleep(context.Background(), time.Millisecond); err != nil {
		t.Errorf("Sleep = %v", err)
	}
}

// TestPure: the policy imports no etcd, SQL or network.
func TestPure(t *testing.T) { deptest.Pure(t) }
