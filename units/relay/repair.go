package relay

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"os"

	"github.com/go-mysql-org/go-mysql/replication"
)

// maxTailEvent bounds the rotation or stop event endsWhole looks for: a
// header, the position, a file name of at most 512 bytes and a checksum.
const maxTailEvent = replication.EventHeaderSize + 8 + 512 + 4

// RepairFile cuts the binlog file at path after its last whole event and
// returns its length after. from must be an event boundary (the relay's
// checkpoint in its file, else 4): only the bytes from there on are read
// and checked (each event's length, and its CRC32 when the file's
// description event says the events carry one), so a restart costs the
// unsynced tail, not the file. A file ending with a whole rotation or stop
// event is whole and left alone; a file shorter than from is checked from
// its start.
func RepairFile(path string, from int64) (int64, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return 0, fmt.Errorf("repair relay file %s: %w", path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("repair relay file %s: %w", path, err)
	}
	n := st.Size()
	tail := make([]byte, min(n, maxTailEvent+4))
	if _, err := f.ReadAt(tail, n-int64(len(tail))); err != nil && err != io.EOF {
		return 0, fmt.Errorf("repair relay file %s: %w", path, err)
	}
	if endsWhole(tail, n) {
		return n, nil
	}
	end, err := wholeEnd(f, n, from)
	if err != nil {
		return 0, fmt.Errorf("repair relay file %s: %w", path, err)
	}
	if end == n {
		return n, nil
	}
	if err := f.Truncate(end); err != nil {
		return 0, fmt.Errorf("repair relay file %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return 0, fmt.Errorf("repair relay file %s: %w", path, err)
	}
	return end, nil
}

// wholeEnd is the end of the last whole event of the file f of length n,
// walking from from (4 when from is not inside the file).
func wholeEnd(f *os.File, n, from int64) (int64, error) {
	var magic [4]byte
	if n < 4 {
		return 0, nil
	}
	if _, err := f.ReadAt(magic[:], 0); err != nil {
		return 0, err
	}
	if magic != [4]byte(binlogMagic) {
		return 0, nil
	}
	// The description event (at 4) says whether events carry a CRC32.
	crc := false
	var h [replication.EventHeaderSize]byte
	if n >= 4+replication.EventHeaderSize {
		if _, err := f.ReadAt(h[:], 4); err != nil {
			return 0, err
		}
		size := int64(binary.LittleEndian.Uint32(h[9:]))
		if replication.EventType(h[4]) == replication.FORMAT_DESCRIPTION_EVENT && size >= replication.EventHeaderSize && 4+size <= n {
			fde := make([]byte, size)
			if _, err := f.ReadAt(fde, 4); err != nil {
				return 0, err
			}
			crc = fdeHasCRC(fde)
		}
	}
	if from < 4 || from > n {
		from = 4
	}
	data := make([]byte, n-from)
	if _, err := f.ReadAt(data, from); err != nil && err != io.EOF {
		return 0, err
	}
	off := int64(0)
	for off+replication.EventHeaderSize <= int64(len(data)) {
		size := int64(binary.LittleEndian.Uint32(data[off+9:]))
		if size < replication.EventHeaderSize || off+size > int64(len(data)) {
			break
		}
		ev := data[off : off+size]
		if replication.EventType(ev[4]) != replication.FORMAT_DESCRIPTION_EVENT && crc &&
			crc32.ChecksumIEEE(ev[:size-4]) != binary.LittleEndian.Uint32(ev[size-4:]) {
			break
		}
		off += size
	}
	return from + off, nil
}

// endsWhole reports whether tail, the last bytes of a file of length n,
// ends with a whole rotation or stop event (then every event before it is
// whole: the relay fsyncs a file before it starts the next).
func endsWhole(tail []byte, n int64) bool {
	for size := replication.EventHeaderSize; size <= maxTailEvent && size <= len(tail)-4; size++ {
		h := tail[len(tail)-size:]
		typ := replication.EventType(h[4])
		if (typ == replication.ROTATE_EVENT || typ == replication.STOP_EVENT) &&
			int(binary.LittleEndian.Uint32(h[9:])) == size && int64(binary.LittleEndian.Uint32(h[13:])) == n {
			return true
		}
	}
	return false
}

// fdeHasCRC reads a format description event's checksum algorithm: the
// byte before its own 4-byte checksum (MySQL 5.6.1+, MariaDB 5.3+).
func fdeHasCRC(ev []byte) bool {
	if len(ev) < replication.EventHeaderSize+2+50+4+1+5 {
		return false
	}
	return replication.BinlogChecksum(ev[len(ev)-5]) == replication.BINLOG_CHECKSUM_ALG_CRC32
}
