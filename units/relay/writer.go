package relay

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
)

// ErrOtherServer: the relay directory holds another server's binlog.
var ErrOtherServer = errors.New("the relay holds another server's binlog")

// Writer appends the events of a binlog stream to the relay files: each
// event at its own offset in the file of its own name, so a position in
// the relay is the source's position. An event the relay holds already is
// skipped; a gap (an event that starts past the end of its file) is an
// error. The stream must start at a file's beginning (pos 4) or at the
// end of a file the relay holds (Writer.Resume).
type Writer struct {
	dir     string
	flavor  string
	meta    Meta
	files   []string
	changed *Signal

	f    *os.File
	bw   *bufio.Writer
	name string // the file open for writing
	size int64  // its length, buffered bytes included
	next string // the file the stream is in (from the last rotation)
	crc  bool   // the current file's events end with a CRC32
	gset mysql.GTIDSet
	// Written counts the bytes written by this Writer.
	Written int64
	// Repaired lists the files Open cut after their last whole event
	// (a crash in the middle of a write), with the bytes cut.
	Repaired []Repair
}

// Repair is a file Open repaired.
type Repair struct {
	File string
	Cut  int64 // bytes cut
	Size int64 // its length after
}

// Open opens (creating) the relay directory dir for the server named
// server, and repairs it: a file that does not end with a whole rotation
// or stop event is cut after its last whole event (a crash mid-write).
// changed is fired whenever readers may find more.
func Open(dir, server, flavor string, changed *Signal) (*Writer, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("open relay %s: %w", dir, err)
	}
	m, err := ReadMeta(dir)
	if err != nil {
		return nil, err
	}
	if m.Server != "" && m.Server != server {
		return nil, fmt.Errorf("open relay %s: %w (%s, the source now is %s)", dir, ErrOtherServer, m.Server, server)
	}
	files, err := ReadIndex(dir)
	if err != nil {
		return nil, err
	}
	w := &Writer{dir: dir, flavor: flavor, meta: m, changed: changed}
	w.meta.Server = server
	for _, name := range files {
		if !validName(name) {
			return nil, fmt.Errorf("open relay %s: the index names %q, not a binlog file name", dir, name)
		}
		if _, err := os.Stat(filepath.Join(dir, name)); errors.Is(err, os.ErrNotExist) {
			continue // purged, the index not rewritten yet
		}
		from := int64(4)
		if name == m.File {
			from = int64(m.Pos)
		}
		path := filepath.Join(dir, name)
		st, err := os.Stat(path)
		if err != nil {
			return nil, fmt.Errorf("open relay %s: %w", dir, err)
		}
		size, err := RepairFile(path, from)
		if err != nil {
			return nil, err
		}
		if size < st.Size() {
			w.Repaired = append(w.Repaired, Repair{File: name, Cut: st.Size() - size, Size: size})
		}
		w.files = append(w.files, name)
	}
	if !slices.Equal(w.files, files) {
		if err := writeIndex(dir, w.files); err != nil {
			return nil, err
		}
	}
	if m.GTID != "" && flavor != "" {
		if g, err := mysql.ParseGTIDSet(flavor, m.GTID); err == nil {
			w.gset = g
		}
	}
	return w, nil
}

// Meta returns the relay's checkpoint as last written.
func (w *Writer) Meta() Meta { return w.meta }

// Files returns the files the relay holds, oldest first.
func (w *Writer) Files() []string { return slices.Clone(w.files) }

// Dir is the relay directory.
func (w *Writer) Dir() string { return w.dir }

// Resume is where a stream continues the relay: the end of its newest
// file (zero when the relay holds none).
func (w *Writer) Resume() (file string, pos uint32, err error) {
	if len(w.files) == 0 {
		return "", 0, nil
	}
	last := w.files[len(w.files)-1]
	st, err := os.Stat(filepath.Join(w.dir, last))
	if err != nil {
		return "", 0, fmt.Errorf("relay %s: %w", w.dir, err)
	}
	return last, uint32(st.Size()), nil
}

// Holds reports whether the relay holds file.
func (w *Writer) Holds(file string) bool { return slices.Contains(w.files, file) }

// Write appends one event of the stream.
func (w *Writer) Write(ev *replication.BinlogEvent) error {
	h := ev.Header
	switch h.EventType {
	case replication.HEARTBEAT_EVENT, replication.HEARTBEAT_LOG_EVENT_V2:
		return nil
	}
	if re, ok := ev.Event.(*replication.RotateEvent); ok && (h.Flags&replication.LOG_EVENT_ARTIFICIAL_F != 0 || h.LogPos == 0) {
		w.next = string(re.NextLogName)
		return nil
	}
	if h.LogPos == 0 {
		return nil // a description event repeated at a resume
	}
	if w.next == "" {
		return fmt.Errorf("relay %s: an event before any rotation: the stream did not name its file", w.dir)
	}
	if w.name != w.next {
		if err := w.switchTo(w.next); err != nil {
			return err
		}
	}
	start := int64(h.LogPos) - int64(h.EventSize)
	switch {
	case start < w.size:
		return w.track(ev, true) // held already (a stream restarted from an older file)
	case start > w.size:
		return fmt.Errorf("relay %s: gap in %s: an event at %d, the file ends at %d", w.dir, w.name, start, w.size)
	}
	if _, err := w.bw.Write(ev.RawData); err != nil {
		return fmt.Errorf("relay %s: write %s: %w", w.dir, w.name, err)
	}
	w.size += int64(len(ev.RawData))
	w.Written += int64(len(ev.RawData))
	return w.track(ev, false)
}

// track follows the description (checksums), rotations and GTIDs.
func (w *Writer) track(ev *replication.BinlogEvent, held bool) error {
	h := ev.Header
	switch e := ev.Event.(type) {
	case *replication.FormatDescriptionEvent:
		w.crc = e.ChecksumAlgorithm == replication.BINLOG_CHECKSUM_ALG_CRC32
	case *replication.RotateEvent:
		w.next = string(e.NextLogName)
	}
	if held || w.flavor != mysql.MariaDBFlavor || w.name != w.files[len(w.files)-1] {
		return nil // GTIDs are followed in the newest file only (older ones are filled in behind)
	}
	body := ev.RawData[replication.EventHeaderSize:]
	if w.crc && len(body) >= 4 {
		body = body[:len(body)-4]
	}
	switch h.EventType {
	case replication.MARIADB_GTID_LIST_EVENT:
		// the state at the start of the file: the set starts over from it
		var l replication.MariadbGTIDListEvent
		if len(body) >= 4 && l.Decode(body) == nil {
			set := &mysql.MariadbGTIDSet{Sets: map[uint32]*mysql.MariadbGTID{}}
			for i := range l.GTIDs {
				forward(set, l.GTIDs[i])
			}
			w.gset = set
		}
	case replication.MARIADB_GTID_EVENT:
		var g replication.MariadbGTIDEvent
		if len(body) >= 13 && g.Decode(body) == nil {
			g.GTID.ServerID = h.ServerID
			set, ok := w.gset.(*mysql.MariadbGTIDSet)
			if !ok {
				set = &mysql.MariadbGTIDSet{Sets: map[uint32]*mysql.MariadbGTID{}}
				w.gset = set
			}
			forward(set, g.GTID)
		}
	}
	return nil
}

// forward records g in set when it is the newest of its domain.
func forward(set *mysql.MariadbGTIDSet, g mysql.MariadbGTID) {
	if cur, ok := set.Sets[g.DomainID]; !ok || cur.SequenceNumber < g.SequenceNumber {
		set.Sets[g.DomainID] = g.Clone()
	}
}

// switchTo makes name the file written: the current one is flushed and
// fsynced first; name is created (with the binlog magic) and added to the
// index when the relay does not hold it.
func (w *Writer) switchTo(name string) error {
	if !validName(name) {
		return fmt.Errorf("relay %s: the stream names %q, not a binlog file name", w.dir, name)
	}
	if err := w.closeFile(); err != nil {
		return err
	}
	path := filepath.Join(w.dir, name)
	if !slices.Contains(w.files, name) {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
		if err != nil {
			return fmt.Errorf("relay %s: create %s: %w", w.dir, name, err)
		}
		if _, err := f.Write(binlogMagic); err != nil {
			f.Close()
			return fmt.Errorf("relay %s: create %s: %w", w.dir, name, err)
		}
		f.Close()
		w.files = sortFiles(append(w.files, name))
		if err := writeIndex(w.dir, w.files); err != nil {
			return err
		}
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("relay %s: open %s: %w", w.dir, name, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("relay %s: open %s: %w", w.dir, name, err)
	}
	w.f, w.name, w.size = f, name, st.Size()
	w.bw = bufio.NewWriterSize(f, 256<<10)
	w.changed.Fire()
	return nil
}

func (w *Writer) closeFile() error {
	if w.f == nil {
		return nil
	}
	err := w.Sync()
	if cerr := w.f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("relay %s: close %s: %w", w.dir, w.name, cerr)
	}
	w.f, w.bw = nil, nil
	return err
}

// Flush hands what was written to the file system, where readers find
// it, and wakes them.
func (w *Writer) Flush() error {
	if w.bw == nil || w.bw.Buffered() == 0 {
		return nil
	}
	if err := w.bw.Flush(); err != nil {
		return fmt.Errorf("relay %s: write %s: %w", w.dir, w.name, err)
	}
	w.changed.Fire()
	return nil
}

// Sync flushes, fsyncs the file written and then records the checkpoint
// (relay.meta) at its end.
func (w *Writer) Sync() error {
	if w.f == nil {
		return nil
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if err := w.f.Sync(); err != nil {
		return fmt.Errorf("relay %s: fsync %s: %w", w.dir, w.name, err)
	}
	m := w.meta
	m.File, m.Pos = w.name, uint32(w.size)
	if w.gset != nil {
		m.GTID = w.gset.String()
	}
	if m == w.meta {
		return nil
	}
	if err := writeMeta(w.dir, m); err != nil {
		return err
	}
	w.meta = m
	return nil
}

// Close syncs and closes the file written.
func (w *Writer) Close() error { return w.closeFile() }

// MarkGone records that the files up to and including file are gone for
// good (why: "purged at the disk floor", "purged on the source"); readers
// that need them get ErrGone.
func (w *Writer) MarkGone(file, why string) error {
	m := w.meta
	if m.Gone != "" && CompareFiles(file, m.Gone) <= 0 {
		return nil
	}
	m.Gone, m.GoneWhy = file, why
	if err := writeMeta(w.dir, m); err != nil {
		return err
	}
	w.meta = m
	w.changed.Fire()
	return nil
}

// Remove deletes held files (purge): the index first, then the files.
func (w *Writer) Remove(names []string) error {
	keep := slices.DeleteFunc(slices.Clone(w.files), func(f string) bool { return slices.Contains(names, f) && f != w.name })
	if err := writeIndex(w.dir, keep); err != nil {
		return err
	}
	w.files = keep
	for _, n := range names {
		if n == w.name {
			continue
		}
		if err := os.Remove(filepath.Join(w.dir, n)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("relay %s: purge %s: %w", w.dir, n, err)
		}
	}
	w.changed.Fire()
	return nil
}
