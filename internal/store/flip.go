package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// flip makes the staged generation current in one transaction: if the
// head is still at the plan's base revision and the claim still lives,
// put the head and the history record, drop the claim, delete the
// generation before the previous one and trim the history.
func (s *Store) flip(ctx context.Context, st *staging, h head, rec ApplyRecord) (ApplyRecord, error) {
	rec.Seq = h.rec.Seq + 1
	rec.ID = seqID(rec.Seq)
	rec.Revision = 0 // the flip's own revision: History fills it in from the key
	hv, _ := json.Marshal(HeadRecord{
		Gen: st.gen, PrevGen: h.rec.Gen, Seq: rec.Seq, PlanDigest: rec.PlanDigest, Time: rec.Time,
	})
	rv, _ := json.Marshal(rec)
	then := []clientv3.Op{
		clientv3.OpPut(keyHead, string(hv)),
		clientv3.OpPut(historyKey(rec.Seq), string(rv)),
		clientv3.OpDelete(stagingKey(st.gen)),
	}
	if old := h.rec.PrevGen; old != "" && old != st.gen {
		then = append(then, clientv3.OpDelete(genPrefix(old), clientv3.WithRange(prefixEnd(genPrefix(old)))))
	}
	if keepFrom := rec.Seq - int64(s.historyKeep) + 1; keepFrom > 1 {
		then = append(then, clientv3.OpDelete(pfxHistory, clientv3.WithRange(historyKey(keepFrom))))
	}
	var rev int64
	err := retry(ctx, "flip head to generation "+st.gen, func(ctx context.Context) error {
		resp, err := s.cli.Txn(ctx).
			If(clientv3.Compare(clientv3.ModRevision(keyHead), "=", h.modRev), st.claimHeld()).
			Then(then...).
			Else(clientv3.OpGet(keyHead)).Commit()
		if err != nil {
			return err
		}
		if resp.Succeeded {
			rev = resp.Header.Revision
			return nil
		}
		kvs := resp.Responses[0].GetResponseRange().Kvs
		var cur HeadRecord
		var curRev int64
		if len(kvs) == 1 {
			curRev = kvs[0].ModRevision
			_ = json.Unmarshal(kvs[0].Value, &cur)
		}
		switch {
		case cur.Gen == st.gen: // an earlier attempt landed, its reply was lost
			rev = curRev
			return nil
		case curRev != h.modRev:
			return fmt.Errorf("plan from revision %d: head is at revision %d: %w", h.modRev, curRev, ErrStale)
		}
		return ErrClaimLost
	})
	if err != nil && !errors.Is(err, ErrStale) && !errors.Is(err, ErrClaimLost) {
		// The outcome is unknown (e.g. ctx ended with the txn in
		// flight): look at the head to learn it.
		if r, ok := s.isHead(st.gen); ok {
			rev, err = r, nil
		}
	}
	if err != nil {
		return rec, err
	}
	rec.Revision = rev
	return rec, nil
}

// isHead reports whether gen is the head, and the head's revision, using
// a short context of its own.
func (s *Store) isHead(gen string) (int64, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	h, err := s.readHead(ctx)
	return h.modRev, err == nil && h.rec.Gen == gen
}

// discard deletes a staged generation that did not become the head, with
// a short context of its own (the apply's may have ended). If it fails,
// GC collects the generation once the claim's lease has expired.
func (s *Store) discard(st *staging, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	h, err := s.readHead(ctx)
	if err != nil {
		log.Warn("discard staged generation: GC will collect it", "err", err)
		return
	}
	if h.rec.Gen == st.gen || h.rec.PrevGen == st.gen {
		return // it became the head after all
	}
	p := genPrefix(st.gen)
	_, err = s.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.ModRevision(keyHead), "=", h.modRev)).
		Then(clientv3.OpDelete(p, clientv3.WithRange(prefixEnd(p))), clientv3.OpDelete(stagingKey(st.gen))).
		Commit()
	if err != nil {
		log.Warn("discard staged generation: GC will collect it", "err", err)
	}
}
