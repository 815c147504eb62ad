package units

import (
	"fmt"
	"strings"
	"testing"

	"github.com/dmplan/dmplan/internal/golden"
)

// TestRouteHashStable pins the routing hash: the exactly-once replay
// relies on a change going to the same worker in every run, so a change
// of these values is a change of the checkpoint format (docs/units.md).
func TestRouteHashStable(t *testing.T) {
	tbl := syTestTable("t", []syncCol{{name: "id", kind: kindInt}, {name: "s", kind: kindText, fold: true}, {name: "b", kind: kindBytes}}, []int{0, 1})
	nokey := syTestTable("nokey", []syncCol{{name: "a", kind: kindInt}}, nil)
	var b strings.Builder
	for _, row := range [][]any{
		{int64(1), "a", []byte{0}},
		{int64(-1), "ABC  ", nil},
		{uint64(18446744073709551615), "ünï", []byte("x")},
		{float64(0), "", nil},
	} {
		fmt.Fprintf(&b, "t %v -> %016x\n", row, routeHash(tbl, row))
	}
	fmt.Fprintf(&b, "nokey -> %016x\n", routeHash(nokey, []any{int64(1)}))
	golden.Check(t, "units/sync/route_hash.txt", []byte(b.String()))
}

func TestKeyFolding(t *testing.T) {
	ci := syTestTable("ci", []syncCol{{name: "k", kind: kindText, fold: true}}, []int{0})
	cs := syTestTable("cs", []syncCol{{name: "k", kind: kindText}}, []int{0})
	bin := syTestTable("bin", []syncCol{{name: "k", kind: kindBytes}}, []int{0})
	h := func(t *syncTable, v any) uint64 { return routeHash(t, []any{v}) }
	if h(ci, "Straße ") != h(ci, "STRAßE") {
		t.Error("case-insensitive keys differing in case and trailing spaces hash differently")
	}
	if h(cs, "abc") == h(cs, "ABC") {
		t.Error("case-sensitive keys differing in case hash alike")
	}
	if h(cs, "abc") != h(cs, "abc  ") {
		t.Error("PAD SPACE keys differing in trailing spaces hash differently")
	}
	if h(bin, []byte("a ")) == h(bin, []byte("a")) {
		t.Error("binary keys differing in a trailing space hash alike")
	}
	if h(ci, "x") != h(ci, []byte("x")) {
		t.Error("a key hashes differently as string and as bytes")
	}
}

func TestCausality(t *testing.T) {
	done := []uint64{0, 0}
	doneOf := func(w int) uint64 { return done[w] }
	c := newCausality(4)
	c.add([]uint64{10, 11}, 0, 1) // worker 0's change 1 touches keys 10, 11
	if c.conflict([]uint64{10}, 0, doneOf) {
		t.Error("a key in flight on the same worker conflicts")
	}
	if !c.conflict([]uint64{12, 11}, 1, doneOf) {
		t.Error("a key in flight on another worker does not conflict")
	}
	done[0] = 1
	if c.conflict([]uint64{11}, 1, doneOf) {
		t.Error("a key of a committed change conflicts")
	}
	c.add([]uint64{1, 2, 3}, 1, 1)
	if !c.full(doneOf) {
		t.Error("a map of uncommitted keys over its limit is not full")
	}
	done[1] = 1
	c.add([]uint64{4}, 0, 2)
	if c.full(doneOf) || len(c.m) != 1 {
		t.Errorf("committed keys were not pruned: %d left, want 1", len(c.m))
	}
}

func TestSyncSeqOrder(t *testing.T) {
	a := seqAt("mysql-bin.000009", 500, 3)
	b := seqAt("mysql-bin.000010", 4, 0)
	if !a.less(b) || b.less(a) || !a.lessEq(a) {
		t.Errorf("seq order wrong: %v %v", a, b)
	}
	if binlogFileIndex("mysql-bin.1000000") != 1000000 || binlogFileIndex("noext") != 0 {
		t.Error("binlogFileIndex")
	}
	if got := syncServerID(Config{Task: "shop", Source: "mysql-01"}); got < 1<<30 || got >= 1<<31 {
		t.Errorf("derived server id %d out of range", got)
	}
	if syncServerID(Config{Task: "a", Source: "bc"}) == syncServerID(Config{Task: "ab", Source: "c"}) {
		t.Error("server ids of different subtasks collide on a trivial case")
	}
}
