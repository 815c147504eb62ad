package units

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/dmplan/dmplan/internal/onlineddl"
	"github.com/dmplan/dmplan/units/ddl"
)

// handle processes one binlog event: transaction boundaries, row changes
// and statements.
func (s *syncer) handle(ctx context.Context, ev *replication.BinlogEvent, recv time.Time) error {
	s.stats.events.Add(1)
	h := ev.Header
	if h.Timestamp != 0 {
		s.lastTs, s.lastRecv = h.Timestamp, recv
		s.behind.Store(recv.Unix()-int64(h.Timestamp) > 1)
	}
	switch e := ev.Event.(type) {
	case *replication.RotateEvent:
		s.file = string(e.NextLogName)
		s.fileIdx = binlogFileIndex(s.file)
		if h.Flags&replication.LOG_EVENT_ARTIFICIAL_F == 0 && !s.inTxn {
			s.boundary = Position{File: s.file, Pos: uint32(e.Position)}
		}
	case *replication.MariadbGTIDEvent:
		s.beginTxn(h, recv, e.GTID.String())
		s.txnStandalone = e.IsStandalone()
	case *replication.GTIDEvent:
		s.beginTxn(h, recv, mysqlGTID(e))
	case *replication.GtidTaggedLogEvent:
		s.beginTxn(h, recv, "") // tagged GTIDs are not tracked: positions still are
	case *replication.QueryEvent:
		return s.handleQuery(ctx, ev, e, recv)
	case *replication.RowsEvent:
		return s.handleRows(ctx, ev, e, recv)
	case *replication.XIDEvent:
		return s.endTxn(ctx, h)
	case *replication.MariadbBinlogCheckPointEvent, *replication.MariadbGTIDListEvent:
		// Written between transactions (a checkpoint event asynchronously,
		// after a rotation): the position after one is a boundary too, or a
		// binlog ending with one would never read as caught up.
		if !s.inTxn && h.Flags&replication.LOG_EVENT_ARTIFICIAL_F == 0 && h.LogPos > 0 {
			s.boundary = Position{File: s.file, Pos: h.LogPos}
		}
	case *replication.TransactionPayloadEvent:
		return Permanent(fmt.Errorf("sync %s/%s: compressed transaction at %s:%d: set binlog_transaction_compression=OFF on the source (not supported)",
			s.cfg.Task, s.cfg.Source, s.file, h.LogPos))
	}
	return nil
}

// mysqlGTID is the GTID of a MySQL transaction ("uuid:N", as go-mysql's
// GTIDNext gives it), or "" for an anonymous one.
func mysqlGTID(e *replication.GTIDEvent) string {
	if e.GNO == 0 || len(e.SID) == 16 && [16]byte(e.SID) == [16]byte{} {
		return "" // anonymous
	}
	g, err := e.GTIDNext()
	if err != nil {
		return ""
	}
	return g.String()
}

func (s *syncer) beginTxn(h *replication.EventHeader, recv time.Time, gtid string) {
	s.inTxn, s.sawBegin, s.txnStandalone = true, false, true
	s.txnNo++
	s.txnStart = Position{File: s.file, Pos: h.LogPos - h.EventSize}
	s.txnGTID, s.txnTs, s.txnRecv, s.txnRecorded = gtid, h.Timestamp, recv, false
}

// endTxn closes the current transaction at the event that ends at h.LogPos.
func (s *syncer) endTxn(ctx context.Context, h *replication.EventHeader) error {
	if s.txnGTID != "" && s.gset != nil {
		if err := s.gset.Update(s.txnGTID); err != nil {
			return Permanent(fmt.Errorf("sync %s/%s: GTID %s at %s:%d: %w", s.cfg.Task, s.cfg.Source, s.txnGTID, s.file, h.LogPos, err))
		}
		s.gsetDirty = true
	}
	s.inTxn, s.txnGTID = false, ""
	s.boundary = Position{File: s.file, Pos: h.LogPos}
	if s.windows != nil && s.windowsUntil.less(syncSeq{File: s.fileIdx, Pos: h.LogPos}) {
		s.windows = nil // past every load window
	}
	if s.reshapeTo > 0 && !s.holding() && s.maxMark.less(syncSeq{File: s.fileIdx, Pos: h.LogPos}) {
		return s.reshapeNow(ctx)
	}
	return nil
}

func (s *syncer) handleQuery(ctx context.Context, ev *replication.BinlogEvent, e *replication.QueryEvent, recv time.Time) error {
	q := bytes.TrimSpace(e.Query)
	switch {
	case bytes.EqualFold(q, []byte("BEGIN")):
		if !s.inTxn {
			s.beginTxn(ev.Header, recv, "")
		}
		s.sawBegin = true
		return nil
	case bytes.EqualFold(q, []byte("COMMIT")), bytes.EqualFold(q, []byte("ROLLBACK")):
		return s.endTxn(ctx, ev.Header)
	case len(q) > 3 && bytes.EqualFold(q[:3], []byte("XA ")):
		return Permanent(fmt.Errorf("sync %s/%s: an XA transaction at %s:%d: XA transactions are not supported",
			s.cfg.Task, s.cfg.Source, s.file, ev.Header.LogPos))
	}
	// A statement ends its group unless the group goes on: after BEGIN, in
	// a MariaDB group not flagged standalone, or in MySQL's
	// "CREATE TABLE ... START TRANSACTION" (CREATE TABLE ... SELECT).
	if !s.inTxn {
		s.beginTxn(ev.Header, recv, "")
	}
	standalone := !s.sawBegin && s.txnStandalone && !bytes.HasSuffix(bytes.ToUpper(q), []byte("START TRANSACTION"))
	resume := s.txnStart
	resume.GTID = s.gtidString()
	mark, applied, err := s.handleStatement(ctx, ev, e, resume)
	if err != nil {
		return err
	}
	var endErr error
	if standalone {
		// The statement is a transaction of its own (a DDL commits implicitly).
		if endErr = s.endTxn(ctx, ev.Header); endErr != nil && !errors.Is(endErr, errRestart) {
			return endErr
		}
		resume = s.boundaryPos()
	}
	if applied {
		if err := s.recordDDLDone(ctx, mark, resume); err != nil {
			return err
		}
	}
	return endErr
}

func (s *syncer) recordDDLDone(ctx context.Context, mark workerMark, resume Position) error {
	resume = s.capResume(resume) // before a held shard DDL (shard.go)
	if err := s.meta.ddlDone(ctx, mark, resume); err != nil {
		return err
	}
	s.saved = resume
	return nil
}

// handleRows turns a rows event into changes and hands them out.
func (s *syncer) handleRows(ctx context.Context, ev *replication.BinlogEvent, e *replication.RowsEvent, recv time.Time) error {
	h := ev.Header
	if !s.inTxn {
		s.beginTxn(h, recv, "")
	}
	schema, table := string(e.Table.Schema), string(e.Table.Table)
	r := s.route(schema, table)
	if r.skip {
		return nil
	}
	if skip, err := s.filterRows(e, schema, table, h.LogPos); skip || err != nil {
		return err
	}
	heldDrop, replay := s.shardRows(tableRef{schema, table}, h.LogPos) // shard.go
	if heldDrop {
		return nil
	}
	if !r.registered {
		if err := s.register(ctx, tableRef{schema, table}, r.dst); err != nil {
			return err
		}
		r.registered = true
	}
	idem := !s.cfg.StartTime.IsZero() && int64(h.Timestamp) < s.cfg.StartTime.Add(startTimeOverlap).Unix()
	if s.windows != nil {
		switch s.windowAction(ctx, tableRef{schema, table}, r.dst, Position{File: s.file, Pos: h.LogPos}) {
		case eventSkip:
			s.stats.rowsSkipped.Add(int64(len(e.Rows)))
			return nil
		case eventIdempotent:
			idem = true
		}
	}
	where := func() string {
		return fmt.Sprintf("%s (target %s) at %s:%d", quoteTable(schema, table), r.dst, s.file, h.LogPos)
	}
	// t: the table as rows are written; dec: the definition the binlog's
	// rows come in (a source view's when spec.filters dropped an ALTER of
	// the table, sync_view.go; else t).
	var t, dec *syncTable
	load := func() error {
		tt, err := s.tables.get(ctx, s.target, r.dst)
		if errors.Is(err, errNoTargetTable) {
			return Permanent(fmt.Errorf("sync %s: %w: create it on the target, or exclude the table from the task", where(), err))
		}
		if err != nil {
			return err
		}
		view, w, err := s.viewed(ctx, tableRef{s.storedName(schema), s.storedName(table)}, tt)
		if err != nil {
			return err
		}
		t, dec = w, tt
		if view != nil {
			dec = view
		}
		return nil
	}
	if err := load(); err != nil {
		return err
	}
	if int(e.ColumnCount) != len(dec.cols) {
		s.tables.reset() // the cached definition may be stale: read it once more
		if err := load(); err != nil {
			return err
		}
		if int(e.ColumnCount) != len(dec.cols) {
			if dec == t && s.appliedEvent(e, t, h.LogPos) { // shard.go
				s.stats.rowsSkipped.Add(int64(len(e.Rows)))
				return nil
			}
			return Permanent(fmt.Errorf("sync %s: the binlog row has %d columns, the target table %d: the target's definition differs from the source's; "+
				"make them equal (same columns in the same order) and resume", where(), e.ColumnCount, len(dec.cols)))
		}
	}
	for _, sk := range e.SkippedColumns {
		if len(sk) > 0 {
			return Permanent(fmt.Errorf("sync %s: the row image is not full, so dmplan cannot apply it exactly: set binlog_row_image=FULL on the source (and in every session); %s",
				where(), ddl.RecopyAdvice(ddl.Table{Schema: string(e.Table.Schema), Name: string(e.Table.Table)})))
		}
	}
	var kind changeKind
	step := 1
	switch e.Type() {
	case replication.EnumRowsEventTypeInsert:
		kind = changeInsert
	case replication.EnumRowsEventTypeUpdate:
		kind, step = changeUpdate, 2
	case replication.EnumRowsEventTypeDelete:
		kind = changeDelete
	default:
		return Permanent(fmt.Errorf("sync %s: unsupported rows event %s", where(), h.EventType))
	}
	if h.EventType == replication.PARTIAL_UPDATE_ROWS_EVENT {
		return Permanent(fmt.Errorf("sync %s: partial JSON updates: set binlog_row_value_options='' on the source", where()))
	}
	// The source session ran with foreign_key_checks=0: its foreign keys
	// did not cascade (the rows event's NO_FOREIGN_KEY_CHECKS flag).
	noFK := e.Flags&rowsNoForeignKeyChecks != 0
	for i := 0; i+step <= len(e.Rows); i += step {
		seq := syncSeq{File: s.fileIdx, Pos: h.LogPos, Row: uint32(i / step)}
		c := &syncChange{kind: kind, idem: idem, noFK: noFK, tbl: t, seq: seq, file: s.file, ts: h.Timestamp, recv: recv}
		switch kind {
		case changeInsert:
			c.after = e.Rows[i]
		case changeUpdate:
			c.before, c.after = e.Rows[i], e.Rows[i+1]
		case changeDelete:
			c.before = e.Rows[i]
		}
		if err := normalizeRows(dec, c.before, c.after); err != nil {
			return Permanent(fmt.Errorf("sync %s: %w", where(), err))
		}
		if t.proj != nil {
			c.before, c.after = project(t, c.before), project(t, c.after)
		}
		if replay && seq.lessEq(s.maxMark) {
			c.idem = true // held by a shard DDL lock: never applied, or replayed idempotently
		} else if seq.lessEq(s.maxMark) && s.appliedBefore(c) {
			s.stats.rowsSkipped.Add(1)
			continue
		}
		if err := s.dispatch(ctx, c); err != nil {
			return err
		}
	}
	return nil
}

// rowsNoForeignKeyChecks is the rows event flag NO_FOREIGN_KEY_CHECKS_F.
const rowsNoForeignKeyChecks = 0x0002

// appliedBefore reports whether a change was committed by an earlier run:
// its worker's mark is at or after it (docs/units.md, "Sync").
func (s *syncer) appliedBefore(c *syncChange) bool {
	row := c.after
	if c.kind != changeInsert {
		row = c.before
	}
	w := int(workerHash(c.tbl, row) % uint64(len(s.marks)))
	return c.seq.lessEq(s.marks[w])
}

func normalizeRows(t *syncTable, rows ...[]any) error {
	for _, row := range rows {
		for i := range row {
			v, err := normalizeValue(row[i], &t.cols[i])
			if err != nil {
				return err
			}
			row[i] = v
		}
	}
	return nil
}

// route says what becomes of a source table's changes.
func (s *syncer) route(schema, table string) *srcRoute {
	ref := tableRef{schema, table}
	if r, ok := s.routes[ref]; ok {
		return r
	}
	r := &srcRoute{}
	if k, _ := s.onlineTable(table); k != onlineddl.Real {
		r.skip = true // a shadow or trash table of an online schema change (sync_online.go)
	} else if slices.Contains(systemSchemas, strings.ToLower(schema)) || !s.filter.Match(schema, table) {
		r.skip = true
	} else {
		db, tbl := s.router.Route(s.storedName(schema), s.storedName(table))
		r.dst = tableRef{db, tbl}
		rules := s.router.Rules()
		for i, rule := range rules {
			if rule.From.Match(s.foldName(schema), s.foldName(table)) {
				// Merged: the pattern matches many tables, or the task has
				// several sources (spec.shardMode is set then), or another
				// rule writes the same table.
				_, _, literal := rule.From.Literal()
				r.merged = !literal || len(s.cfg.ShardSources) > 1
				for j, o := range rules {
					if j != i && o.ToDB == rule.ToDB && o.ToTable == rule.ToTable {
						r.merged = true
					}
				}
				break
			}
		}
	}
	s.routes[ref] = r
	return r
}

// register records, before the first row of a table this run has not
// registered yet (one created on the source since the start), that the
// subtask writes into its target table (owners.go).
func (s *syncer) register(ctx context.Context, src, dst tableRef) error {
	p := srcDst{src, dst}
	if s.owned == nil {
		s.owned = &ownedTables{}
	}
	if s.owned.known(p) {
		return nil
	}
	if err := registerTarget(ctx, s.target, s.cfg, p); err != nil {
		return err
	}
	s.owned.add(p)
	return nil
}
