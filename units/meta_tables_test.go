package units

import "testing"

// TestMetaTableNames: ensureMeta skips the tables that exist by the name
// metaTableName reads from each statement, so every statement must name
// its table, and each name once.
func TestMetaTableNames(t *testing.T) {
	seen := map[string]bool{}
	for _, stmt := range metaDDL[1:] {
		name := metaTableName(stmt)
		if name == "" || seen[name] {
			t.Fatalf("metaTableName(%.60q) = %q (empty or repeated)", stmt, name)
		}
		seen[name] = true
	}
	if want := "load_chunk"; !seen[want] {
		t.Fatalf("no %s among %v", want, seen)
	}
}
