package relay

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// The files of a relay directory (docs/relay.md, "Files").
const (
	metaName  = "relay.meta"
	indexName = "relay.index"
)

// binlogMagic starts every binlog file.
var binlogMagic = []byte{0xfe, 'b', 'i', 'n'}

// Meta is the relay's checkpoint, relay.meta: what the relay holds for
// sure (fsynced) and where it came from.
type Meta struct {
	Version int `json:"version"`
	// Server names the server the files were read from (the source's
	// identity: server_id, gtid_domain_id / server_uuid, binlog base name).
	// A relay never mixes servers.
	Server string `json:"server"`
	// File and Pos: every byte before Pos in File, and every file before
	// it in the index, is whole events, fsynced. GTID is the source's GTID
	// set at the last transaction boundary at or before it, when known.
	File string `json:"file,omitempty"`
	Pos  uint32 `json:"pos,omitempty"`
	GTID string `json:"gtid,omitempty"`
	// Gone: the files up to and including this one are not in the relay
	// for good (purged at the disk floor, or no longer on the source when
	// the relay needed them); GoneWhy says which. A reader that needs one
	// gets a permanent error.
	Gone    string `json:"gone,omitempty"`
	GoneWhy string `json:"goneWhy,omitempty"`
}

// ReadMeta reads dir's relay.meta; a missing file is the zero Meta.
func ReadMeta(dir string) (Meta, error) {
	var m Meta
	b, err := os.ReadFile(filepath.Join(dir, metaName))
	if errors.Is(err, os.ErrNotExist) {
		return m, nil
	}
	if err != nil {
		return m, fmt.Errorf("read relay checkpoint: %w", err)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("read relay checkpoint %s: %w", filepath.Join(dir, metaName), err)
	}
	return m, nil
}

func writeMeta(dir string, m Meta) error {
	m.Version = 1
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return writeAtomic(dir, metaName, append(b, '\n'))
}

// ReadIndex reads the files the relay holds, oldest first.
func ReadIndex(dir string) ([]string, error) {
	f, err := os.Open(filepath.Join(dir, indexName))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read relay index: %w", err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			out = append(out, l)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read relay index: %w", err)
	}
	return sortFiles(out), nil
}

func writeIndex(dir string, files []string) error {
	var b strings.Builder
	for _, f := range files {
		b.WriteString(f)
		b.WriteByte('\n')
	}
	return writeAtomic(dir, indexName, []byte(b.String()))
}

// writeAtomic replaces dir/name with data: a temporary file, fsynced,
// renamed over it, and the directory fsynced.
func writeAtomic(dir, name string, data []byte) error {
	tmp := filepath.Join(dir, name+".tmp")
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", dir, err)
	}
	return nil
}

// FileNumber is the numeric extension of a binlog file name
// (mysql-bin.000042 → 42), 0 when it has none.
func FileNumber(name string) uint64 {
	n, err := strconv.ParseUint(strings.TrimPrefix(filepath.Ext(name), "."), 10, 64)
	if err != nil {
		return 0
	}
	return n
}

// CompareFiles orders binlog file names by their number, then by name.
func CompareFiles(a, b string) int {
	if na, nb := FileNumber(a), FileNumber(b); na != nb {
		if na < nb {
			return -1
		}
		return 1
	}
	return strings.Compare(a, b)
}

func sortFiles(fs []string) []string {
	slices.SortFunc(fs, CompareFiles)
	return slices.Compact(fs)
}

// validName refuses names that are not plain file names (a binlog name
// comes from the source; it must not escape the directory).
func validName(name string) bool {
	return name != "" && name != "." && name != ".." && !strings.ContainsAny(name, "/\\\x00") &&
		name != metaName && name != indexName && !strings.HasSuffix(name, ".tmp")
}
