package units

import "context"

// Load windows of a cascading foreign-key group (docs/units.md, "Foreign
// keys"). After an interrupted load, the tables of a group can hold rows
// of different snapshots. A parent's delete replayed in the parent's
// window cascades on the target, and could remove a child row that the
// child's newer snapshot holds and whose insert, older than that
// snapshot, sync skips. So the keyed tables of a group replay the union
// of the group's windows: every change of the group between its oldest
// and its newest snapshot is applied idempotently, which for a keyed table
// converges to the source's rows whatever snapshot they were loaded from.
// Tables without a key keep their own window (they are one chunk, and
// replaying their inserts twice would duplicate rows).

// groupWindows caches the union window of each group.
type groupWindows struct {
	gen  int // tableCache.gen they were computed for
	wins map[string]tableWindow
}

// windowAction decides a rows event of source table src (target dst) that
// ends at pos.
func (s *syncer) windowAction(ctx context.Context, src, dst tableRef, pos Position) eventAction {
	a := s.windows.Decide(src.Schema, src.Name, pos)
	if _, own := s.windows.tables[src]; !own {
		return a
	}
	t, err := s.tables.get(ctx, s.target, dst)
	if err != nil || t.fkGroup == "" || t.key == nil {
		return a // an error is reported when the change is applied
	}
	w, ok := s.groupWindow(t.fkGroup)
	if !ok {
		return a
	}
	switch {
	case ComparePositions(pos, w.From) <= 0:
		return eventSkip
	case ComparePositions(pos, w.Until) <= 0:
		return eventIdempotent
	}
	return eventApply
}

// groupWindow is the union of the windows of the source tables whose
// target tables are in group name.
func (s *syncer) groupWindow(name string) (tableWindow, bool) {
	if s.fkWins == nil || s.fkWins.gen != s.tables.gen {
		s.fkWins = &groupWindows{gen: s.tables.gen, wins: map[string]tableWindow{}}
		for ref, tw := range s.windows.tables {
			r := s.route(ref.Schema, ref.Name)
			if r.skip {
				continue
			}
			g := s.tables.groups[r.dst]
			if g == nil {
				continue
			}
			u, ok := s.fkWins.wins[g.name]
			if !ok {
				u = tw
			}
			if ComparePositions(tw.From, u.From) < 0 {
				u.From = tw.From
			}
			if ComparePositions(tw.Until, u.Until) > 0 {
				u.Until = tw.Until
			}
			s.fkWins.wins[g.name] = u
		}
	}
	w, ok := s.fkWins.wins[name]
	return w, ok
}
