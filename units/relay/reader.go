package relay

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/go-mysql-org/go-mysql/replication"
)

var (
	// ErrGone: the position is in a file the relay no longer holds and
	// never will again (Meta.Gone).
	ErrGone = errors.New("the relay no longer holds the binlog file")
	// ErrNotHeld: the position is before the relay's oldest file; the
	// relay may still fetch it from the source.
	ErrNotHeld = errors.New("the relay does not hold the binlog file")
)

// heartbeatEvery is how often a reader waiting for more returns an
// artificial heartbeat, as a source does on a quiet stream.
const heartbeatEvery = time.Second

// Reader reads a relay's events from a position on, following the files as
// they grow and rotate, as a go-mysql BinlogStreamer would deliver them:
// first an artificial rotation to the start file, then its format
// description event, then the events from the position on.
type Reader struct {
	dir     string
	changed func() <-chan struct{}
	parser  *replication.BinlogParser

	f       *os.File
	name    string
	from    int64 // where to start in name once its description is read
	off     int64 // the file offset of buf[0]
	buf     []byte
	next    string // the file after name, once its rotation was read
	stopped bool   // name ended with a stop event: the next file in the index follows
	queue   []*replication.BinlogEvent

	mu     sync.Mutex // Close may come from another goroutine than GetEvent
	closed bool
}

// NewReader starts reading dir at file:pos (an event boundary of the
// source's binlog). parser is configured as the caller wants its events
// (flavor, time location, checksum verification). It fails with ErrGone
// or ErrNotHeld when the relay cannot serve file.
func NewReader(dir, file string, pos uint32, changed func() <-chan struct{}, parser *replication.BinlogParser) (*Reader, error) {
	if !validName(file) {
		return nil, fmt.Errorf("read relay %s: %q is not a binlog file name", dir, file)
	}
	if err := Check(dir, file); err != nil {
		return nil, err
	}
	r := &Reader{dir: dir, changed: changed, parser: parser, name: file, from: int64(max(pos, 4))}
	rot := &replication.RotateEvent{Position: uint64(max(pos, 4)), NextLogName: []byte(file)}
	r.queue = append(r.queue, &replication.BinlogEvent{
		Header: &replication.EventHeader{EventType: replication.ROTATE_EVENT, Flags: replication.LOG_EVENT_ARTIFICIAL_F},
		Event:  rot,
	})
	return r, nil
}

// Check says whether the relay in dir can serve file: nil when it holds
// it or may still write it (a file after its newest), ErrGone, ErrNotHeld.
func Check(dir, file string) error {
	m, err := ReadMeta(dir)
	if err != nil {
		return err
	}
	files, err := ReadIndex(dir)
	if err != nil {
		return err
	}
	if slices.Contains(files, file) {
		return nil
	}
	if m.Gone != "" && CompareFiles(file, m.Gone) <= 0 {
		return fmt.Errorf("%w %s (%s; it held up to %s)", ErrGone, file, m.GoneWhy, m.Gone)
	}
	if len(files) == 0 || CompareFiles(file, files[0]) < 0 {
		return fmt.Errorf("%w %s yet", ErrNotHeld, file)
	}
	return nil
}

// Close closes the file read; GetEvent then fails.
func (r *Reader) Close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	r.closeFile()
}

func (r *Reader) closeFile() {
	if r.f != nil {
		r.f.Close()
		r.f = nil
	}
}

// GetEvent returns the next event, waiting for the relay to grow; while
// it waits it returns an artificial heartbeat every second.
func (r *Reader) GetEvent(ctx context.Context) (*replication.BinlogEvent, error) {
	var beat <-chan time.Time
	for {
		if len(r.queue) > 0 {
			ev := r.queue[0]
			r.queue = r.queue[1:]
			return ev, nil
		}
		wake := r.changed()
		r.mu.Lock()
		if r.closed {
			r.mu.Unlock()
			return nil, fmt.Errorf("read relay %s: closed", r.dir)
		}
		ev, err := r.step()
		r.mu.Unlock()
		if err != nil || ev != nil {
			return ev, err
		}
		if beat == nil {
			beat = time.After(heartbeatEvery)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-wake:
		case <-beat:
			if err := r.goneHere(); err != nil {
				return nil, err
			}
			return &replication.BinlogEvent{
				Header: &replication.EventHeader{EventType: replication.HEARTBEAT_EVENT, Flags: replication.LOG_EVENT_ARTIFICIAL_F},
				Event:  &replication.GenericEvent{},
			}, nil
		case <-time.After(200 * time.Millisecond): // a writer in another process
		}
	}
}

// goneHere is ErrGone when the reader waits at the end of a file the relay
// will not get the rest of (Meta.Gone: the source purged it before the
// relay had all of it); nil otherwise.
func (r *Reader) goneHere() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.f == nil || r.stopped || r.next != "" {
		return nil
	}
	m, err := ReadMeta(r.dir)
	if err != nil || m.Gone == "" || CompareFiles(r.name, m.Gone) > 0 {
		return nil
	}
	return fmt.Errorf("%w %s after %d (%s; it held up to %s)", ErrGone, r.name, r.off, m.GoneWhy, m.Gone)
}

// step returns the next event when the relay holds it whole, nil when it
// must wait.
func (r *Reader) step() (*replication.BinlogEvent, error) {
	if r.f == nil {
		if ok, err := r.open(); !ok || err != nil {
			return nil, err
		}
	}
	data, err := r.event()
	if data == nil || err != nil {
		if err == nil && (r.stopped || r.next != "") {
			name := r.name
			if err := r.advance(); err != nil || r.name == name {
				return nil, err
			}
			return r.step()
		}
		return nil, err
	}
	ev, err := r.parser.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("read relay %s: %s at %d: %w", r.dir, r.name, r.off, err)
	}
	switch e := ev.Event.(type) {
	case *replication.RotateEvent:
		if ev.Header.Flags&replication.LOG_EVENT_ARTIFICIAL_F == 0 {
			r.next = string(e.NextLogName)
		}
	}
	if ev.Header.EventType == replication.STOP_EVENT {
		r.stopped = true
	}
	if ev.Header.EventType == replication.FORMAT_DESCRIPTION_EVENT && r.from > r.off {
		r.skipTo(r.from)
	}
	return ev, nil
}

// open opens r.name when the relay has it; false when it must wait.
func (r *Reader) open() (bool, error) {
	f, err := os.Open(filepath.Join(r.dir, r.name))
	if errors.Is(err, os.ErrNotExist) {
		if err := Check(r.dir, r.name); err != nil {
			return false, err
		}
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read relay %s: %w", r.dir, err)
	}
	var magic [4]byte
	if n, _ := f.ReadAt(magic[:], 0); n < 4 {
		f.Close()
		return false, nil
	}
	if magic != [4]byte(binlogMagic) {
		f.Close()
		return false, fmt.Errorf("read relay %s: %s is not a binlog file", r.dir, r.name)
	}
	r.f, r.off, r.buf, r.next, r.stopped = f, 4, r.buf[:0], "", false
	return true, nil
}

// skipTo moves the read offset to off (past the description event).
func (r *Reader) skipTo(off int64) {
	if d := off - r.off; d <= int64(len(r.buf)) {
		r.buf = r.buf[d:]
	} else {
		r.buf = r.buf[:0]
	}
	r.off = off
}

// event returns the bytes of the whole event at r.off (a copy) and moves
// past it; nil when the file does not hold it whole yet.
func (r *Reader) event() ([]byte, error) {
	if err := r.fill(replication.EventHeaderSize); err != nil || len(r.buf) < replication.EventHeaderSize {
		return nil, err
	}
	size := int(binary.LittleEndian.Uint32(r.buf[9:]))
	if size < replication.EventHeaderSize {
		return nil, fmt.Errorf("read relay %s: %s at %d: an event of %d bytes", r.dir, r.name, r.off, size)
	}
	if err := r.fill(size); err != nil || len(r.buf) < size {
		return nil, err
	}
	data := make([]byte, size)
	copy(data, r.buf)
	r.buf = r.buf[size:]
	r.off += int64(size)
	return data, nil
}

// fill reads until buf holds n bytes or the file ends.
func (r *Reader) fill(n int) error {
	for len(r.buf) < n {
		if cap(r.buf)-len(r.buf) < max(n-len(r.buf), 64<<10) {
			nb := make([]byte, len(r.buf), max(2*cap(r.buf), n, 256<<10))
			copy(nb, r.buf)
			r.buf = nb
		}
		k, err := r.f.ReadAt(r.buf[len(r.buf):cap(r.buf)], r.off+int64(len(r.buf)))
		r.buf = r.buf[:len(r.buf)+k]
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read relay %s: %s: %w", r.dir, r.name, err)
		}
	}
	return nil
}

// advance moves on to the file after name: the one its rotation named,
// or after a stop event the next one in the index.
func (r *Reader) advance() error {
	next := r.next
	if next == "" {
		files, err := ReadIndex(r.dir)
		if err != nil {
			return err
		}
		i := slices.IndexFunc(files, func(f string) bool { return CompareFiles(f, r.name) > 0 })
		if i < 0 {
			return nil // not there yet
		}
		next = files[i]
	}
	if !validName(next) {
		return fmt.Errorf("read relay %s: %s names %q, not a binlog file name", r.dir, r.name, next)
	}
	r.closeFile()
	r.name, r.from, r.buf = next, 4, r.buf[:0]
	return nil
}
