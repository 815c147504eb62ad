package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// commitOps is how many operations commit adds to the caller's.
const commitOps = 3

// commit makes generation b.gen current in one transaction: if the head
// is still where b read it (and the claim, when given, still lives), put
// the head and the history record, trim the history, and run ops (the
// versions of a direct apply, or closing a staged generation).
func (s *Store) commit(ctx context.Context, b began, counts Counts, changed []string, rec ApplyRecord, ops []clientv3.Op, claim *clientv3.Cmp) (ApplyRecord, error) {
	h, gen := b.head, b.gen
	rec.Seq = h.rec.Seq + 1
	rec.ID = seqID(rec.Seq)
	rec.Gen = gen
	rec.Revision = 0 // the commit's own revision: History fills it in from the key
	hv, _ := json.Marshal(HeadRecord{
		Gen: gen, PrevGen: h.rec.Gen, Seq: rec.Seq, PlanDigest: rec.PlanDigest, Time: rec.Time, Counts: counts,
		Changed: changed,
	})
	rv, _ := json.Marshal(rec)
	then := append(ops[:len(ops):len(ops)],
		clientv3.OpPut(keyHead, string(hv)),
		clientv3.OpPut(historyKey(rec.Seq), string(rv)))
	if keepFrom := rec.Seq - int64(s.historyKeep) + 1; keepFrom > 1 {
		then = append(then, clientv3.OpDelete(pfxHistory, clientv3.WithRange(historyKey(keepFrom))))
	}
	cmps := []clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(keyHead), "=", h.modRev)}
	if claim != nil {
		cmps = append(cmps, *claim)
	}
	var rev int64
	err := retry(ctx, "make generation "+gen+" current", func(ctx context.Context) error {
		resp, err := s.cli.Txn(ctx).If(cmps...).Then(then...).
			Else(clientv3.OpGet(keyHead), clientv3.OpGet(historyKey(rec.Seq))).Commit()
		if err == nil && s.flipHook != nil {
			err = s.flipHook(resp.Succeeded)
		}
		if err != nil {
			return err
		}
		if resp.Succeeded {
			rev = resp.Header.Revision
			return nil
		}
		var curRev int64
		if kvs := resp.Responses[0].GetResponseRange().Kvs; len(kvs) == 1 {
			curRev = kvs[0].ModRevision
		}
		// An earlier attempt landed and its reply was lost: the history
		// record of this apply's seq names this generation (it was
		// written in the same transaction as the head, and stays when
		// later applies have moved the head on since).
		if kvs := resp.Responses[1].GetResponseRange().Kvs; len(kvs) == 1 {
			var landed ApplyRecord
			if err := decodeInto(kvs[0].Key, kvs[0].Value, &landed); err != nil {
				return fmt.Errorf("read the history record of apply %d: %w", rec.Seq, err)
			}
			if landed.Gen == gen {
				rev = kvs[0].CreateRevision
				return nil
			}
		}
		if curRev != h.modRev {
			return fmt.Errorf("plan from revision %d: head is at revision %d: %w", h.modRev, curRev, ErrStale)
		}
		return ErrClaimLost
	})
	if err != nil && !errors.Is(err, ErrStale) && !errors.Is(err, ErrClaimLost) {
		// The outcome is unknown (e.g. ctx ended with the txn in
		// flight): look at the history record of this apply to learn it.
		r, ok, lerr := s.landed(rec.Seq, gen)
		switch {
		case lerr != nil:
			err = fmt.Errorf("%w; whether it landed is unknown (%v): run dmplan status or dmplan plan to see", err, lerr)
		case ok:
			rev, err = r, nil
		}
	}
	if err != nil {
		return rec, err
	}
	rec.Revision = rev
	return rec, nil
}

// landed reports whether the apply of seq made gen current, and the
// revision it did so at, using a short context of its own (the apply's
// may have ended).
func (s *Store) landed(seq int64, gen string) (int64, bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := s.get(ctx, "read the history record of apply "+seqID(seq), historyKey(seq))
	if err != nil {
		return 0, false, err
	}
	if len(resp.Kvs) == 0 {
		return 0, false, nil
	}
	var r ApplyRecord
	if err := decodeInto(resp.Kvs[0].Key, resp.Kvs[0].Value, &r); err != nil {
		return 0, false, fmt.Errorf("read the history record of apply %s: %w", seqID(seq), err)
	}
	return resp.Kvs[0].CreateRevision, r.Gen == gen, nil
}
