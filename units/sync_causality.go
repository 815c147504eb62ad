package units

import (
	"math"
	"unicode"
	"unicode/utf8"
)

// Parallel apply ("causality", after DM): every row change goes to the
// worker hash(target table, row key) mod N, so all changes to one key are
// applied in binlog order by one worker. The hash is FNV-1a over a
// canonical encoding of the key's normalised values: it is the same in
// every process and every run, which the exactly-once replay relies on
// (docs/units.md, "Sync").
//
// A change can also touch other keys: the new key of an UPDATE that
// changes the primary key, and the values of other unique indexes. If one
// of those keys was last touched by a change still in flight on another
// worker, the two changes could be reordered on the target; the
// dispatcher then waits for every worker to commit before it goes on (a
// flush). Tables without a NOT NULL unique key go to one worker per table.
//
// Hashes ignore case and trailing spaces of text under case-insensitive
// collations. Other collation equivalences (accents, ß, ignorable
// characters) are not modelled: two such keys may be applied out of order,
// the target reports a duplicate key, and the sync unit replays that stretch
// of the binlog serially (syncer.serialUntil), which is always correct.

const (
	fnvOffset64 = 14695981039346656037
	fnvPrime64  = 1099511628211
)

type fnvHash uint64

func newHash() fnvHash { return fnvOffset64 }

func (h fnvHash) byte(b byte) fnvHash { return (h ^ fnvHash(b)) * fnvPrime64 }

func (h fnvHash) uint64(v uint64) fnvHash {
	for i := 0; i < 8; i++ {
		h = h.byte(byte(v >> (8 * i)))
	}
	return h
}

func (h fnvHash) str(s string) fnvHash {
	for i := 0; i < len(s); i++ {
		h = h.byte(s[i])
	}
	return h
}

// value adds a normalised value of column c.
func (h fnvHash) value(v any, c *syncCol) fnvHash {
	switch x := v.(type) {
	case nil:
		return h.byte(0)
	case int64:
		return h.byte(1).uint64(uint64(x))
	case uint64:
		if x <= math.MaxInt64 {
			return h.byte(1).uint64(x)
		}
		return h.byte(2).uint64(x)
	case float32:
		return h.floatBits(float64(x))
	case float64:
		return h.floatBits(x)
	case string:
		return h.text(x, c)
	case []byte:
		return h.text(string(x), c)
	}
	return h.byte(9)
}

func (h fnvHash) floatBits(f float64) fnvHash {
	if f == 0 {
		f = 0 // -0 equals 0
	}
	return h.byte(3).uint64(math.Float64bits(f))
}

// text adds a string, folded as its column compares it.
func (h fnvHash) text(s string, c *syncCol) fnvHash {
	h = h.byte(4)
	if c.kind == kindText {
		end := len(s)
		for end > 0 && s[end-1] == ' ' {
			end--
		}
		s = s[:end]
		if c.fold {
			for _, r := range s {
				if r < utf8.RuneSelf {
					if 'A' <= r && r <= 'Z' {
						r += 'a' - 'A'
					}
					h = h.byte(byte(r))
					continue
				}
				var buf [utf8.UTFMax]byte
				n := utf8.EncodeRune(buf[:], unicode.ToLower(r))
				for _, b := range buf[:n] {
					h = h.byte(b)
				}
			}
			return h.byte(0xFF)
		}
	}
	return h.str(s).byte(0xFF)
}

// keyHash hashes the values of columns cols of row, or reports ok=false
// when one of them is NULL (NULLs never conflict in a unique index).
func keyHash(t *syncTable, index int, cols []int, row []any) (uint64, bool) {
	h := newHash().str(t.quoted).byte(0).byte(byte(index))
	for _, c := range cols {
		v := row[c]
		if v == nil {
			return 0, false
		}
		h = h.value(v, &t.cols[c])
	}
	return uint64(h), true
}

// routeHash is the hash that picks a change's worker: its key's, or the
// table's when the table has no NOT NULL unique key.
func routeHash(t *syncTable, row []any) uint64 {
	if t.keyIdx >= 0 {
		if h, ok := keyHash(t, t.keyIdx, t.key, row); ok {
			return h
		}
	}
	return uint64(newHash().str(t.quoted))
}

// workerHash picks a change's worker: the routing hash, or the hash of
// its table's foreign-key group, whose changes one worker applies in
// binlog order (fk.go).
func workerHash(t *syncTable, row []any) uint64 {
	if t.fkGroup != "" {
		return uint64(newHash().str(t.fkGroup).byte(1))
	}
	return routeHash(t, row)
}

// changeKeys appends the hashes of every key a change touches, for the
// row images given: each unique index without NULLs, and the table
// itself when it has no key.
func changeKeys(dst []uint64, t *syncTable, rows ...[]any) []uint64 {
	for _, row := range rows {
		if row == nil {
			continue
		}
		if t.keyIdx < 0 {
			dst = append(dst, routeHash(t, row))
		}
		for i, u := range t.uniques {
			if h, ok := keyHash(t, i, u, row); ok {
				dst = append(dst, h)
			}
		}
	}
	return dst
}

// causality remembers which worker last took each key, while that
// change may still be uncommitted.
type causality struct {
	m     map[uint64]causEntry
	limit int
}

type causEntry struct {
	worker int32
	count  uint64 // the worker's dispatch count of the change
}

func newCausality(limit int) *causality {
	return &causality{m: make(map[uint64]causEntry), limit: limit}
}

// conflict reports whether a change for worker w touching keys must wait:
// one of its keys belongs to an uncommitted change of another worker.
// done(w) is the number of changes worker w has committed.
func (c *causality) conflict(keys []uint64, w int, done func(int) uint64) bool {
	for _, k := range keys {
		e, ok := c.m[k]
		if ok && int(e.worker) != w && done(int(e.worker)) < e.count {
			return true
		}
	}
	return false
}

// add records that the change numbered count of worker w touches keys.
func (c *causality) add(keys []uint64, w int, count uint64) {
	for _, k := range keys {
		c.m[k] = causEntry{worker: int32(w), count: count}
	}
}

// full drops entries of committed changes when the map is over its limit
// and reports whether it is still too large (the caller then flushes and
// calls reset).
func (c *causality) full(done func(int) uint64) bool {
	if len(c.m) < c.limit {
		return false
	}
	for k, e := range c.m {
		if done(int(e.worker)) >= e.count {
			delete(c.m, k)
		}
	}
	return len(c.m) >= c.limit/2
}

func (c *causality) reset() { clear(c.m) }
