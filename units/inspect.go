package units

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// Read-only views of the servers and of dmplan_meta for the commands that
// inspect a task without running it (dmplan verify, plan --refresh). They
// change nothing.

// Querier is what *sql.DB, *sql.Conn and *sql.Tx have in common.
type Querier = querier

// TableName names a table: schema and name.
type TableName struct{ Schema, Name string }

func (n TableName) String() string { return quoteTable(n.Schema, n.Name) }

// ReadTable reads the definition of schema.name from information_schema;
// the error matches ErrTableNotFound when there is no such table.
func ReadTable(ctx context.Context, q Querier, schema, name string) (*Table, error) {
	return readTable(ctx, q, schema, name)
}

// ListTables lists the base tables outside the system schemas and
// dmplan_meta that match, sorted by schema and name: what dump copies.
func ListTables(ctx context.Context, q Querier, match func(db, table string) bool) ([]TableName, error) {
	refs, err := listTables(ctx, q, match)
	if err != nil {
		return nil, err
	}
	out := make([]TableName, len(refs))
	for i, r := range refs {
		out[i] = TableName(r)
	}
	return out, nil
}

// ChunkKey is the index dump cuts the table by (see chunkKey): "" when the
// table has none and is copied as one chunk.
func (t *Table) ChunkKey() (string, []string) { return t.chunkKey() }

// SelectExpr is the expression that reads column c exactly as text (FLOAT
// as DOUBLE, which round-trips).
func SelectExpr(c Column, flavor string) string { return selectExpr(c, flavor) }

// IsBinaryType reports whether c holds bytes without a character set.
func IsBinaryType(c Column) bool { return isBinaryType(c) }

// SyncState is what dmplan_meta on the target says of a subtask's progress.
type SyncState struct {
	LoadDone bool     // dump and load have finished
	Syncing  bool     // a sync checkpoint exists
	Resume   Position // sync: every source change before it is applied to the target
}

// ReadSyncState reads a subtask's checkpoints from the target; a target
// without dmplan_meta has none.
func ReadSyncState(ctx context.Context, target Querier, task, source string) (SyncState, error) {
	var st SyncState
	_, done, err := loadDone(ctx, target, task, source)
	if isNoSuchTable(err) {
		return st, nil
	}
	if err != nil {
		return st, err
	}
	st.LoadDone = done
	ck, ok, err := readSyncCheckpoint(ctx, target, task, source)
	if isNoSuchTable(err) {
		return st, nil
	}
	if err != nil {
		return st, err
	}
	st.Syncing, st.Resume = ok, ck.Resume
	return st, nil
}

// isNoSuchTable reports ER_NO_SUCH_TABLE (1146) or ER_BAD_DB_ERROR (1049).
func isNoSuchTable(err error) bool {
	n := errno(err)
	return n == 1146 || n == 1049
}

// PrecheckSource runs Precheck's source checks (binlog on, ROW, FULL row
// image, server_id, the privileges cfg.Mode needs), which only read. Each
// failure says how to fix it.
func PrecheckSource(ctx context.Context, src *sql.DB, cfg Config) ([]string, error) {
	return precheckSource(ctx, src, cfg, nil)
}

// PrecheckTargetGrants is the read-only half of Precheck's target check:
// whether the target user may create and write dmplan_meta (Precheck
// itself creates it, which a read-only caller must not).
func PrecheckTargetGrants(ctx context.Context, dst *sql.DB, cfg Config) ([]string, error) {
	g, err := readGrants(ctx, dst)
	if err != nil {
		return nil, err
	}
	var missing []string
	for _, p := range []string{"CREATE", "INSERT", "UPDATE", "DELETE", "SELECT"} {
		if !g.global(p) && !g.has(metaSchema, p) {
			missing = append(missing, p)
		}
	}
	if len(missing) == 0 {
		return nil, nil
	}
	return []string{fmt.Sprintf("target %s: user %s lacks %s on %s: GRANT ALL PRIVILEGES ON %s.* TO %s;",
		cfg.To, g.user, strings.Join(missing, ", "), metaSchema, QuoteIdent(metaSchema), g.user)}, nil
}
