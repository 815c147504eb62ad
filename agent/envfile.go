package agent

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// EnvFile resolves password variables from a file of KEY=VALUE lines
// (blank lines and # comments ignored, an optional "export " prefix,
// values optionally in single or double quotes), falling back to the
// process environment. The file is re-read whenever its modification time
// or size changes, so rotating a password on a running agent is: write
// the file, then apply. Values are never logged.
type EnvFile struct {
	path     string
	fallback func(string) (string, bool)
	log      *slog.Logger

	mu   sync.Mutex
	mod  time.Time
	size int64
	vals map[string]string
	bad  bool // the last read failed (logged once)
}

// NewEnvFile reads path once, failing when it is missing or malformed.
func NewEnvFile(path string, fallback func(string) (string, bool), log *slog.Logger) (*EnvFile, error) {
	if fallback == nil {
		fallback = func(string) (string, bool) { return "", false }
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	e := &EnvFile{path: path, fallback: fallback, log: log}
	if err := e.refresh(); err != nil {
		return nil, err
	}
	return e, nil
}

// Lookup returns the file's value of name, else the fallback's.
func (e *EnvFile) Lookup(name string) (string, bool) {
	e.mu.Lock()
	if err := e.refresh(); err != nil && !e.bad {
		e.bad = true
		e.log.Error("read env file; keeping the values read before", "err", err)
	}
	v, ok := e.vals[name]
	e.mu.Unlock()
	if ok {
		return v, true
	}
	return e.fallback(name)
}

// Watch checks the file every interval until ctx ends and sends on the
// returned channel when it changed (it never blocks: a pending signal is
// enough). Pass the channel as Config.Wake.
func (e *EnvFile) Watch(ctx context.Context, interval time.Duration) <-chan struct{} {
	out := make(chan struct{}, 1)
	go func() {
		e.mu.Lock()
		mod, size := e.mod, e.size
		e.mu.Unlock()
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			st, err := os.Stat(e.path)
			if err != nil || (st.ModTime().Equal(mod) && st.Size() == size) {
				continue
			}
			mod, size = st.ModTime(), st.Size()
			select {
			case out <- struct{}{}:
			default:
			}
		}
	}()
	return out
}

// refresh re-reads the file when it changed. e.mu is held (or e is new).
func (e *EnvFile) refresh() error {
	st, err := os.Stat(e.path)
	if err != nil {
		return fmt.Errorf("env file: %w", err)
	}
	if e.vals != nil && st.ModTime().Equal(e.mod) && st.Size() == e.size {
		return nil
	}
	b, err := os.ReadFile(e.path)
	if err != nil {
		return fmt.Errorf("env file: %w", err)
	}
	vals, err := parseEnv(e.path, b)
	if err != nil {
		return err
	}
	e.vals, e.mod, e.size, e.bad = vals, st.ModTime(), st.Size(), false
	return nil
}

// parseEnv parses KEY=VALUE lines. Errors name the file and line, never
// a value.
func parseEnv(path string, b []byte) (map[string]string, error) {
	vals := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		key, val, ok := strings.Cut(line, "=")
		key = strings.TrimSpace(key)
		if !ok || !validVar(key) {
			return nil, fmt.Errorf("%s:%d: want KEY=VALUE", path, n)
		}
		val = strings.TrimSpace(val)
		if len(val) >= 2 && val[0] == '\'' && val[len(val)-1] == '\'' {
			val = val[1 : len(val)-1]
		} else if len(val) >= 2 && val[0] == '"' && val[len(val)-1] == '"' {
			uq, err := strconv.Unquote(val)
			if err != nil {
				return nil, fmt.Errorf("%s:%d: %s: bad double-quoted value", path, n, key)
			}
			val = uq
		}
		vals[key] = val
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return vals, nil
}

func validVar(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		if r != '_' && (r < 'A' || r > 'Z') && (r < 'a' || r > 'z') && (i == 0 || r < '0' || r > '9') {
			return false
		}
	}
	return true
}
