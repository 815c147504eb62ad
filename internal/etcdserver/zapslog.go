package etcdserver

import (
	"context"
	"log/slog"
	"sync/atomic"

	"go.uber.org/zap/zapcore"
)

// slogCore is a zapcore.Core that forwards etcd's zap records at or above a
// level to a slog.Logger, so etcd logs where the rest of dmplan logs.
type slogCore struct {
	log   *slog.Logger
	level zapcore.Level
	attrs []any
	// quiet, once set, turns every record into a debug one: while the
	// server closes, etcd logs its listeners' "server closed" as errors.
	quiet *atomic.Bool
}

func newSlogCore(log *slog.Logger, level zapcore.Level, quiet *atomic.Bool) zapcore.Core {
	if quiet == nil {
		quiet = new(atomic.Bool)
	}
	return &slogCore{log: log.With("component", "etcd"), level: level, quiet: quiet}
}

func (c *slogCore) Enabled(l zapcore.Level) bool { return l >= c.level }

func (c *slogCore) With(fields []zapcore.Field) zapcore.Core {
	out := *c
	out.attrs = append(append([]any(nil), c.attrs...), fieldAttrs(fields)...)
	return &out
}

func (c *slogCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c *slogCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	args := append(append([]any(nil), c.attrs...), fieldAttrs(fields)...)
	if e.LoggerName != "" {
		args = append(args, "logger", e.LoggerName)
	}
	level := slogLevel(e.Level)
	if c.quiet.Load() || expected[e.Message] {
		level = slog.LevelDebug
	}
	c.log.Log(context.Background(), level, e.Message, args...)
	return nil
}

func (c *slogCore) Sync() error { return nil }

// expected are etcd's start-up warnings about choices this single-node,
// loopback-only server makes on purpose; they are logged at debug level.
var expected = map[string]bool{
	"Running http and grpc server on single port. This is not recommended for production.": true,
	"simple token is not cryptographically signed":                                         true,
}

func slogLevel(l zapcore.Level) slog.Level {
	switch {
	case l >= zapcore.ErrorLevel:
		return slog.LevelError
	case l == zapcore.WarnLevel:
		return slog.LevelWarn
	case l == zapcore.InfoLevel:
		return slog.LevelInfo
	}
	return slog.LevelDebug
}

// fieldAttrs turns zap fields into slog key/value pairs via zap's own map
// encoder, which knows every field type.
func fieldAttrs(fields []zapcore.Field) []any {
	if len(fields) == 0 {
		return nil
	}
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range fields {
		f.AddTo(enc)
	}
	out := make([]any, 0, 2*len(enc.Fields))
	for _, f := range fields { // keep zap's field order
		if v, ok := enc.Fields[f.Key]; ok {
			out = append(out, f.Key, v)
			delete(enc.Fields, f.Key)
		}
	}
	return out
}
