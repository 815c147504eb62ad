package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/dmplan/dmplan/planner"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Apply writes the plan's desired state and makes it current, all or
// nothing. It fails with ErrStale, having written nothing, when the head
// has moved since p.BaseRevision (another apply won, or the plan is old).
//
// The state is staged as a new generation in as many small transactions
// as needed, then one guarded transaction flips the head to it and records
// rec in the history. rec's Time, User, Host and GitCommit come from the
// caller; PlanDigest and Summary are computed when empty. The returned
// record is what was stored.
func (s *Store) Apply(ctx context.Context, p *planner.Plan, rec ApplyRecord) (ApplyRecord, error) {
	if p == nil {
		return rec, fmt.Errorf("apply: no plan: %w", ErrInvalid)
	}
	if rec.PlanDigest == "" {
		d, err := PlanDigest(p)
		if err != nil {
			return rec, fmt.Errorf("apply: %w", err)
		}
		rec.PlanDigest = d
	}
	if rec.Summary == (planner.Summary{}) {
		rec.Summary = p.Summary()
	}
	rec.BaseRevision = p.BaseRevision
	kvs, counts, err := encodeGen(p.Desired)
	if err != nil {
		return rec, fmt.Errorf("apply: %w", err)
	}
	h, err := s.readHead(ctx)
	if err != nil {
		return rec, fmt.Errorf("apply: %w", err)
	}
	if h.modRev != p.BaseRevision {
		// A saved plan applied again (its first apply's reply was lost,
		// or the user retried): the history names its digest, which
		// covers its base revision, so it is this very plan.
		if done, ok, err := s.appliedAlready(ctx, rec.PlanDigest); err != nil {
			return rec, fmt.Errorf("apply plan from revision %d: head is at revision %d: %w", p.BaseRevision, h.modRev, err)
		} else if ok {
			done.Again = true
			return done, nil
		}
		return rec, fmt.Errorf("apply plan from revision %d: head is at revision %d: %w", p.BaseRevision, h.modRev, ErrStale)
	}
	// Collect what crashed or losing appliers left behind; failing to
	// do so never fails an apply.
	if n, err := s.GC(ctx); err != nil {
		s.log.Warn("garbage collection before apply failed", "err", err)
	} else if len(n) > 0 {
		s.log.Info("collected abandoned generations", "gens", n)
	}

	st, err := s.claim(ctx, rec)
	if err != nil {
		return rec, fmt.Errorf("apply: %w", err)
	}
	defer st.release()
	rec.Gen = st.gen
	log := s.log.With("gen", st.gen, "baseRevision", p.BaseRevision)

	start := time.Now()
	man := Manifest{BaseRevision: p.BaseRevision, PlanDigest: rec.PlanDigest, Counts: counts}
	if err := s.stage(ctx, st, kvs, man); err != nil {
		s.discard(st, log)
		return rec, fmt.Errorf("apply: stage generation %s: %w", st.gen, err)
	}
	log.Debug("staged generation", "keys", len(kvs), "took", time.Since(start))

	rec, err = s.flip(ctx, st, h, rec)
	if err != nil {
		s.discard(st, log)
		return rec, fmt.Errorf("apply: %w", err)
	}
	log.Info("applied", "seq", rec.Seq, "revision", rec.Revision, "took", time.Since(start))
	return rec, nil
}

// staging is one applier's claim on a new generation.
type staging struct {
	gen      string
	claimRev int64 // CreateRevision of the claim key
	lease    clientv3.LeaseID
	release  func() // stop the keepalive and revoke the lease
}

// claim allocates a generation ID and claims it with a staging key on a
// fresh lease kept alive until release. While the claim lives, GC leaves
// the generation alone; every staging write checks that it still lives.
func (s *Store) claim(ctx context.Context, rec ApplyRecord) (*staging, error) {
	ttl := max(int64((s.leaseTTL+time.Second-1)/time.Second), 1)
	var lease *clientv3.LeaseGrantResponse
	if err := retry(ctx, "grant staging lease", func(ctx context.Context) error {
		var err error
		lease, err = s.cli.Grant(ctx, ttl)
		return err
	}); err != nil {
		return nil, err
	}
	kctx, stop := context.WithCancel(context.Background())
	st := &staging{lease: lease.ID, release: func() {
		stop()
		rctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.cli.Revoke(rctx, lease.ID) // best effort: the TTL ends it anyway
	}}
	ka, err := s.cli.KeepAlive(kctx, lease.ID)
	if err != nil {
		st.release()
		return nil, fmt.Errorf("keep staging lease alive: %w", err)
	}
	go func() {
		for range ka {
		}
	}()

	var genResp *clientv3.PutResponse
	if err := retry(ctx, "allocate generation", func(ctx context.Context) error {
		var err error
		genResp, err = s.cli.Put(ctx, keyGenSeq, "{}")
		return err
	}); err != nil {
		st.release()
		return nil, err
	}
	st.gen = genID(genResp.Header.Revision)
	val, _ := json.Marshal(StagingClaim{Gen: st.gen, User: rec.User, Host: rec.Host, Time: rec.Time, Lease: int64(lease.ID)})
	key := stagingKey(st.gen)
	err = retry(ctx, "claim generation "+st.gen, func(ctx context.Context) error {
		resp, err := s.cli.Txn(ctx).
			If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
			Then(clientv3.OpPut(key, string(val), clientv3.WithLease(lease.ID))).
			Else(clientv3.OpGet(key)).Commit()
		if err != nil {
			return err
		}
		if resp.Succeeded {
			st.claimRev = resp.Header.Revision
			return nil
		}
		// An earlier attempt may have landed before its reply was lost.
		kvs := resp.Responses[0].GetResponseRange().Kvs
		if len(kvs) == 1 && clientv3.LeaseID(kvs[0].Lease) == lease.ID {
			st.claimRev = kvs[0].CreateRevision
			return nil
		}
		return fmt.Errorf("generation %s is claimed by someone else: %w", st.gen, ErrCorrupt)
	})
	if err != nil {
		st.release()
		return nil, err
	}
	return st, nil
}

// claimHeld is the comparison every staging write carries.
func (st *staging) claimHeld() clientv3.Cmp {
	return clientv3.Compare(clientv3.CreateRevision(stagingKey(st.gen)), "=", st.claimRev)
}

// PlanDigest is the SHA-256 of the plan's JSON, as "sha256:<hex>".
func PlanDigest(p *planner.Plan) (string, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return "", fmt.Errorf("digest plan: %w", err)
	}
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:]), nil
}

// seqID is the user-facing ID of an apply.
func seqID(seq int64) string { return strconv.FormatInt(seq, 10) }

// appliedAlready finds the apply of the plan with this digest in the kept
// history.
func (s *Store) appliedAlready(ctx context.Context, digest string) (ApplyRecord, bool, error) {
	hist, err := s.History(ctx, 0)
	if err != nil {
		return ApplyRecord{}, false, err
	}
	for _, r := range hist {
		if r.PlanDigest == digest {
			return r, true, nil
		}
	}
	return ApplyRecord{}, false, nil
}
