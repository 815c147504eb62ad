package units

import (
	"log/slog"
	"time"
)

// steps times the steps of a sequence for one debug line: mark(name)
// records the time since the previous mark (or since newSteps) under
// name, and log writes them with the total. A nil *steps records nothing.
type steps struct {
	t0, last time.Time
	attrs    []any
}

func newSteps() *steps {
	now := time.Now()
	return &steps{t0: now, last: now}
}

func (s *steps) mark(name string) {
	if s == nil {
		return
	}
	now := time.Now()
	s.attrs = append(s.attrs, name, now.Sub(s.last).Round(10*time.Microsecond))
	s.last = now
}

// log writes msg at debug level with every step and the total ("took").
func (s *steps) log(log *slog.Logger, msg string, attrs ...any) {
	if s == nil || log == nil {
		return
	}
	log.Debug(msg, append(append(attrs, s.attrs...), "took", time.Since(s.t0).Round(10*time.Microsecond))...)
}
