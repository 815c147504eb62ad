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

// Apply makes the plan's desired state current, all or nothing, writing
// only what differs from the state the plan was computed from. It fails
// with ErrStale, having written nothing, when the head has moved since
// p.BaseRevision (another apply won, or the plan is old).
//
// A change that fits one transaction under etcd's default limits is
// written by the same transaction that moves the head. A larger one is
// staged as versions of an open generation in as many small transactions
// as needed, then one guarded transaction moves the head and closes the
// generation. rec's Time, User, Host and GitCommit come from the caller;
// PlanDigest and Summary are computed when empty. The returned record is
// what was stored.
//
// Apply reads the state at the base revision to find what differs; use
// ApplyOnto when the caller holds it already.
func (s *Store) Apply(ctx context.Context, p *planner.Plan, rec ApplyRecord) (ApplyRecord, error) {
	return s.ApplyOnto(ctx, p, nil, rec)
}

// ApplyOnto is Apply for a caller that holds the state p was computed
// from: base must be the State that Read returned at revision
// p.BaseRevision, unmodified (nil: Apply reads it).
func (s *Store) ApplyOnto(ctx context.Context, p *planner.Plan, base *planner.State, rec ApplyRecord) (ApplyRecord, error) {
	if p == nil {
		return rec, fmt.Errorf("apply: no plan: %w", ErrInvalid)
	}
	if rec.Summary == (planner.Summary{}) {
		rec.Summary = p.Summary()
	}
	rec.BaseRevision = p.BaseRevision
	// With the state the plan was computed from, what to write is known
	// before etcd is asked anything, and delta checks the names of what it
	// writes (every other name was checked when it was written): a plan
	// with a bad name fails here, having written nothing, without a pass
	// over every name of the state. Without it, every name is checked.
	var (
		writes []kv
		known  bool // writes is the delta from base
	)
	if base != nil {
		var err error
		if writes, err = delta(*base, p.Desired); err != nil {
			return rec, fmt.Errorf("apply: %w", err)
		}
		known = true
	} else if err := validate(p.Desired); err != nil {
		return rec, fmt.Errorf("apply: %w", err)
	}
	b, err := s.begin(ctx, p.BaseRevision)
	if err != nil {
		return rec, fmt.Errorf("apply: %w", err)
	}
	if b.head.modRev != p.BaseRevision {
		return s.again(ctx, p, base, b.head, rec)
	}
	if planner.HasSealed(p.Desired) {
		return rec, fmt.Errorf("apply: the plan's passwords are sealed (read from a plan file) and not resolved (planner.ResolveSecrets): %w", ErrInvalid)
	}
	if base == nil || countsOf(*base) != b.head.rec.Counts {
		snap, err := s.readAt(ctx, b.head)
		if err != nil {
			return rec, fmt.Errorf("apply: read the state it changes: %w", err)
		}
		base, known = &snap.State, false
	}
	if !known {
		if writes, err = delta(*base, p.Desired); err != nil {
			return rec, fmt.Errorf("apply: %w", err)
		}
	}
	if rec.PlanDigest == "" {
		rec.PlanDigest = planDigest(p, writes)
	}
	return s.write(ctx, b, writes, countsOf(p.Desired), rec)
}

// again handles a plan whose base is not the head: a saved plan applied
// again (its first apply's reply was lost, or the user retried) is found
// in the history by its digest, computed over the state at its base
// revision (read from etcd's history unless the caller holds it): then
// the result is that record, with Again set. Otherwise, or when the base
// revision can no longer be read, it fails with ErrStale.
func (s *Store) again(ctx context.Context, p *planner.Plan, base *planner.State, h head, rec ApplyRecord) (ApplyRecord, error) {
	stale := fmt.Errorf("apply plan from revision %d: head is at revision %d: %w", p.BaseRevision, h.modRev, ErrStale)
	if base == nil {
		snap, err := s.readAtRevision(ctx, p.BaseRevision)
		if err != nil {
			s.log.Debug("read the state a stale plan was computed from", "revision", p.BaseRevision, "err", err)
			return rec, stale
		}
		base = &snap.State
	}
	writes, err := delta(*base, p.Desired)
	if err != nil {
		return rec, stale
	}
	digest := rec.PlanDigest
	if digest == "" {
		digest = planDigest(p, writes)
	}
	done, ok, err := s.appliedAlready(ctx, digest)
	if err != nil {
		return rec, fmt.Errorf("apply plan from revision %d: head is at revision %d: %w", p.BaseRevision, h.modRev, err)
	}
	if !ok {
		return rec, stale
	}
	done.Again = true
	return done, nil
}

// planDigest identifies a plan: the SHA-256 of its JSON without its
// desired state, and of what applying it writes over the state it was
// computed from (which, with the base revision, determines the desired
// state), as "sha256:<hex>". Its cost follows the change.
func planDigest(p *planner.Plan, writes []kv) string {
	h := sha256.New()
	q := *p
	q.Desired = planner.State{}
	json.NewEncoder(h).Encode(q)
	for _, w := range writes {
		fmt.Fprintf(h, "%s\x00%t\x00%d\x00", w.key, w.val == nil, len(w.val))
		h.Write(w.val)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// began is what an apply learns in its first round trip: the head, a
// fresh generation ID, and whether earlier applies left work behind.
type began struct {
	head head
	gen  string
	// litter: open generations or unswept logs exist (GC has work).
	litter bool
}

// begin reads the head and, when it is at base, allocates a generation
// ID, in one transaction: the revision of that transaction is the ID,
// unique and later than the head's generation. When the head is not at
// base it writes nothing.
func (s *Store) begin(ctx context.Context, base int64) (began, error) {
	reads := []clientv3.Op{
		clientv3.OpGet(keyHead),
		clientv3.OpGet(pfxOpen, clientv3.WithPrefix(), clientv3.WithKeysOnly()),
		clientv3.OpGet(pfxLog, clientv3.WithPrefix(), clientv3.WithKeysOnly(), clientv3.WithLimit(1)),
	}
	var resp *clientv3.TxnResponse
	err := retry(ctx, "read head", func(ctx context.Context) error {
		var err error
		resp, err = s.cli.Txn(ctx).
			If(clientv3.Compare(clientv3.ModRevision(keyHead), "=", base)).
			Then(append(reads, clientv3.OpPut(keyGenSeq, "{}"))...).
			Else(reads...).Commit()
		return err
	})
	if err != nil {
		return began{}, err
	}
	h, err := headFrom(resp.Responses[0].GetResponseRange().Kvs, resp.Header.Revision)
	if err != nil {
		return began{}, err
	}
	h.open = map[string]bool{}
	for _, kv := range resp.Responses[1].GetResponseRange().Kvs {
		h.open[string(kv.Key[len(pfxOpen):])] = true
	}
	return began{
		head: h, gen: genID(resp.Header.Revision),
		litter: len(h.open) > 0 || len(resp.Responses[2].GetResponseRange().Kvs) > 0,
	}, nil
}

// write makes the state after writes current, from the head in b: in the
// commit transaction itself when it fits, else staged. counts are the
// objects of the new state.
func (s *Store) write(ctx context.Context, b began, writes []kv, counts Counts, rec ApplyRecord) (ApplyRecord, error) {
	rec.Gen, rec.Keys = b.gen, len(writes)
	log := s.log.With("gen", b.gen, "baseRevision", b.head.modRev, "keys", len(writes))
	start := time.Now()
	if b.litter {
		// Collect what crashed or losing appliers left behind; failing
		// to do so never fails an apply.
		if n, err := s.GC(ctx); err != nil {
			log.Warn("garbage collection before apply failed", "err", err)
		} else if len(n) > 0 {
			log.Info("collected abandoned generations", "gens", n)
		}
	}
	var changed []string // nil: too many to list in the head
	if len(writes) <= maxChanged {
		changed = make([]string, len(writes))
		for i, w := range writes {
			changed[i] = w.key[len(prefix):]
		}
	}
	// A deleted task's shard records go in the same transaction, so that
	// a task created again under its name never finds them.
	shardOps, later := shardRecordDeletes(writes)
	if ops, ok := s.direct(writes, b.gen); ok && len(ops)+len(shardOps)+commitOps <= maxOpsDirect {
		rec, err := s.commit(ctx, b, counts, changed, rec, append(ops, shardOps...), nil)
		if err == nil {
			s.deleteShardRecords(ctx, later, log)
		}
		if err != nil {
			return rec, fmt.Errorf("apply: %w", err)
		}
		log.Info("applied", "seq", rec.Seq, "revision", rec.Revision, "took", time.Since(start))
		return rec, nil
	}

	st, err := s.claim(ctx, b.gen, rec)
	if err != nil {
		return rec, fmt.Errorf("apply: %w", err)
	}
	defer st.release()
	if err := s.stage(ctx, st, writes); err != nil {
		s.discard(b.gen, log)
		return rec, fmt.Errorf("apply: stage generation %s: %w", st.gen, err)
	}
	log.Debug("staged generation", "took", time.Since(start))
	closeOps := []clientv3.Op{clientv3.OpDelete(stagingKey(st.gen)), clientv3.OpDelete(openKey(st.gen))}
	held := st.claimHeld()
	rec, err = s.commit(ctx, b, counts, changed, rec, append(closeOps, shardOps...), &held)
	if err != nil {
		s.discard(b.gen, log)
		return rec, fmt.Errorf("apply: %w", err)
	}
	s.deleteShardRecords(ctx, later, log)
	// Drop the versions the new generation supersedes; what is left
	// (the applier dies now) is swept by the next apply's GC.
	if err := s.sweep(ctx, b.gen); err != nil {
		log.Warn("sweep superseded versions; the next apply does it", "err", err)
	}
	log.Info("applied", "seq", rec.Seq, "revision", rec.Revision, "took", time.Since(start))
	return rec, nil
}

// maxChanged is the most objects an apply lists in the head it writes
// (HeadRecord.Changed), so that readers skip what is not theirs.
const maxChanged = 1000

// direct returns the operations that write writes as generation gen and
// delete the versions they supersede, when they fit in one transaction
// next to the head's own operations. The tombstones of a worker's bounds
// that all go (kv.group) are one range delete of the worker's prefix: a
// dead agent's hundred sources moving elsewhere are one transaction.
func (s *Store) direct(writes []kv, gen string) ([]clientv3.Op, bool) {
	var ops []clientv3.Op
	bytes, objects := 0, 0
	groups := map[string]bool{}
	for _, w := range writes {
		if s.directMax <= 0 || objects > s.directMax || len(ops)+commitOps > maxOpsDirect || bytes > maxBytesPerTxn/2 {
			return nil, false // too large already: a first apply does not build 200,000 operations to find out
		}
		bytes += 2*len(w.key) + numWidth + len(w.val) + 16
		if w.group != "" && w.val == nil {
			if !groups[w.group] {
				groups[w.group] = true
				objects++
				ops = append(ops, clientv3.OpDelete(w.group, clientv3.WithPrefix()))
			}
			continue
		}
		objects++
		if w.old {
			ops = append(ops, supersede(w, gen))
		}
		if w.val != nil {
			ops = append(ops, clientv3.OpPut(versionKey(w.key, gen), string(w.val)))
		}
	}
	if s.directMax <= 0 || objects > s.directMax || len(ops)+commitOps > maxOpsDirect || bytes > maxBytesPerTxn/2 {
		return nil, false
	}
	return ops, true
}

// supersede deletes the versions of w's object before generation gen, and
// gen's own when w deletes the object: once gen is current, they are
// never read again.
func supersede(w kv, gen string) clientv3.Op {
	end := versionKey(w.key, gen)
	if w.val == nil {
		end += "\x00"
	}
	return clientv3.OpDelete(w.key+"/", clientv3.WithRange(end))
}

// staging is one applier's claim on a new generation.
type staging struct {
	gen      string
	claimRev int64 // CreateRevision of the claim key
	lease    clientv3.LeaseID
	release  func() // stop the keepalive and revoke the lease
}

// claim claims generation gen with a staging key on a fresh lease kept
// alive until release, and marks it open (not part of any state) until
// the commit closes it. While the claim lives, GC leaves the generation
// alone; every staging write checks that it still lives.
func (s *Store) claim(ctx context.Context, gen string, rec ApplyRecord) (*staging, error) {
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
	st := &staging{gen: gen, lease: lease.ID, release: func() {
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

	val, _ := json.Marshal(StagingClaim{Gen: gen, User: rec.User, Host: rec.Host, Time: rec.Time, Lease: int64(lease.ID)})
	key := stagingKey(gen)
	err = retry(ctx, "claim generation "+gen, func(ctx context.Context) error {
		resp, err := s.cli.Txn(ctx).
			If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0),
				clientv3.Compare(clientv3.CreateRevision(openKey(gen)), "=", 0)).
			Then(clientv3.OpPut(key, string(val), clientv3.WithLease(lease.ID)), clientv3.OpPut(openKey(gen), string(val))).
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
		return fmt.Errorf("generation %s is claimed by someone else: %w", gen, ErrCorrupt)
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
