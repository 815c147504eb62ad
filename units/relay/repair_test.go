package relay

import (
	"encoding/binary"
	"hash/crc32"
	"os"
	"path/filepath"
	"testing"

	"github.com/go-mysql-org/go-mysql/replication"
)

// event builds a binlog event of type typ with body, ending at end+size
// (its LogPos), with a CRC32 when crc.
func event(typ replication.EventType, body []byte, start int64, crc bool) []byte {
	size := replication.EventHeaderSize + len(body)
	if crc {
		size += 4
	}
	ev := make([]byte, replication.EventHeaderSize, size)
	ev[4] = byte(typ)
	binary.LittleEndian.PutUint32(ev[9:], uint32(size))
	binary.LittleEndian.PutUint32(ev[13:], uint32(start)+uint32(size))
	ev = append(ev, body...)
	if crc {
		ev = binary.LittleEndian.AppendUint32(ev, crc32.ChecksumIEEE(ev))
	}
	return ev
}

// binlog is a file of events: a description event (with or without
// CRC32s), n query-like events, and a rotation when rotated. It returns
// the bytes and each event's start.
func binlog(n int, crc, rotated bool) ([]byte, []int64) {
	data := append([]byte(nil), binlogMagic...)
	var starts []int64
	add := func(ev []byte) {
		starts = append(starts, int64(len(data)))
		data = append(data, ev...)
	}
	fde := make([]byte, 2+50+4+1+20+1) // version, server version, time, header length, post-header lengths, checksum algorithm
	if crc {
		fde[len(fde)-1] = byte(replication.BINLOG_CHECKSUM_ALG_CRC32)
	}
	add(event(replication.FORMAT_DESCRIPTION_EVENT, fde, int64(len(data)), true))
	for i := range n {
		add(event(replication.QUERY_EVENT, []byte(filepath.Join("statement", string(rune('a'+i%26)))), int64(len(data)), crc))
	}
	if rotated {
		add(event(replication.ROTATE_EVENT, append(make([]byte, 8), "mysql-bin.000002"...), int64(len(data)), crc))
	}
	return data, starts
}

func TestRepairFile(t *testing.T) {
	whole, starts := binlog(5, true, false)
	last := starts[len(starts)-1]
	flipped := append([]byte(nil), whole...)
	flipped[len(flipped)-6] ^= 0xff // in the last event's body: its CRC32 fails
	early := append([]byte(nil), whole...)
	early[starts[1]+replication.EventHeaderSize] ^= 0xff // the first query event's CRC32 fails
	rotated, _ := binlog(3, true, true)
	noCRC, ncStarts := binlog(4, false, false)
	tests := []struct {
		name string
		data []byte
		from int64
		want int64
	}{
		{"whole events are kept", whole, 4, int64(len(whole))},
		{"cut in the middle of the last event", whole[:last+10], 4, last},
		{"cut inside the last header", whole[:last+3], 4, last},
		{"checked from the checkpoint", whole[:last+10], starts[2], last},
		{"a checkpoint past the end is checked from the start", whole[:last+10], int64(len(whole)) + 100, last},
		{"a failing CRC32 cuts before its event", flipped, 4, last},
		{"a failing CRC32 before the checkpoint is not read", early, starts[2], int64(len(early))},
		{"a failing CRC32 after the checkpoint cuts", early, 4, starts[1]},
		{"a file ending with a rotation is whole", rotated, 4, int64(len(rotated))},
		{"without CRC32s, lengths only", noCRC[:len(noCRC)-2], 4, ncStarts[len(ncStarts)-1]},
		{"only the magic", whole[:4], 4, 4},
		{"not a binlog file", []byte("hello, world"), 4, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "mysql-bin.000001")
			if err := os.WriteFile(path, tt.data, 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := RepairFile(path, tt.from)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("RepairFile = %d, want %d (file of %d bytes)", got, tt.want, len(tt.data))
			}
			if st, err := os.Stat(path); err != nil || st.Size() != tt.want {
				t.Errorf("the file is %v bytes after (%v), want %d", st.Size(), err, tt.want)
			}
		})
	}
}
