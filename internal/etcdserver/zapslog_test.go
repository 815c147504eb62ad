package etcdserver

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
)

func TestSlogCore(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	z := zap.New(newSlogCore(log, zap.WarnLevel, nil)).With(zap.String("member", "m1"))
	z.Info("dropped below warn")
	z.Warn("slow fdatasync", zap.Duration("took", 2*time.Second), zap.Int("n", 3))
	z.Error("boom", zap.Error(errTest("disk full")))

	got := buf.String()
	for _, want := range []string{
		`level=WARN msg="slow fdatasync" component=etcd member=m1 took=2s n=3`,
		`level=ERROR msg=boom component=etcd member=m1 error="disk full"`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("log output lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "dropped") {
		t.Errorf("info record was forwarded:\n%s", got)
	}
}

type errTest string

func (e errTest) Error() string { return string(e) }
