package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	policy "github.com/dmplan/dmplan/internal/retry"
)

// Limits that keep every request under etcd's default limits (128
// operations per transaction, 1.5 MiB per request) and the client's 2 MiB
// send cap, whatever the server is configured with.
const (
	maxOpsPerTxn = 100
	// maxOpsDirect bounds the one transaction of a direct apply (the
	// versions and the commit's own operations), under etcd's 128.
	maxOpsDirect   = 120
	maxBytesPerTxn = 1 << 20
	// A range is read in pages of pageSize keys, then of twice as many
	// each time, up to maxPageKeys keys or about maxPageBytes (rangeAll).
	pageSize     = 1000
	maxPageKeys  = 32768
	maxPageBytes = 8 << 20
)

// Defaults for options.
const (
	DefaultLeaseTTL    = 10 * time.Second // staging claims
	DefaultHistoryKeep = 100
	DefaultParallel    = 4 // concurrent staging transactions
	// DefaultDirectMax is the most object versions an apply writes in
	// the transaction that makes them current, without staging.
	DefaultDirectMax = 110
)

// Store reads and writes dmplan's state in etcd. It is safe for concurrent
// use.
type Store struct {
	cli         *clientv3.Client
	log         *slog.Logger
	leaseTTL    time.Duration
	historyKeep int
	parallel    int
	directMax   int

	stageHook func(chunk int)            // tests: called before each staging txn
	flipHook  func(succeeded bool) error // tests: called after each flip txn; an error stands for a lost reply
}

// Option configures a Store.
type Option func(*Store)

// WithLogger sets the logger; the default discards.
func WithLogger(l *slog.Logger) Option { return func(s *Store) { s.log = l } }

// WithLeaseTTL sets the TTL of an applier's staging claim: how long after
// a crashed apply its staged generation may be collected.
func WithLeaseTTL(d time.Duration) Option { return func(s *Store) { s.leaseTTL = d } }

// WithHistoryKeep sets how many apply records are kept.
func WithHistoryKeep(n int) Option { return func(s *Store) { s.historyKeep = n } }

// WithParallel sets how many staging transactions are in flight at once.
func WithParallel(n int) Option { return func(s *Store) { s.parallel = n } }

// New returns a Store using cli. The caller keeps ownership of cli.
func New(cli *clientv3.Client, opts ...Option) *Store {
	s := &Store{
		cli: cli, log: slog.New(slog.DiscardHandler),
		leaseTTL: DefaultLeaseTTL, historyKeep: DefaultHistoryKeep, parallel: DefaultParallel,
		directMax: DefaultDirectMax,
	}
	for _, o := range opts {
		o(s)
	}
	if s.parallel < 1 {
		s.parallel = 1
	}
	if s.historyKeep < 1 {
		s.historyKeep = 1
	}
	return s
}

// retry runs f until it succeeds, fails with a non-transient error, or ctx
// ends, backing off between attempts. op names the operation in errors.
func retry(ctx context.Context, op string, f func(ctx context.Context) error) error {
	b := policy.New(50*time.Millisecond, 2*time.Second)
	for {
		err := f(ctx)
		if err == nil {
			return nil
		}
		if !transient(err) || ctx.Err() != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		if ctxErr := policy.Sleep(ctx, b.NextBackOff()); ctxErr != nil {
			return fmt.Errorf("%s: %w (last error: %v)", op, ctxErr, err)
		}
	}
}

// errRetryNow marks a guarded write that lost a race it can retry at once.
var errRetryNow = errors.New("state changed during the operation")

// transient reports whether an etcd error may go away by itself.
func transient(err error) bool {
	if errors.Is(err, errRetryNow) {
		return true
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	for _, e := range []error{
		rpctypes.ErrTimeout, rpctypes.ErrTimeoutDueToLeaderFail, rpctypes.ErrTimeoutDueToConnectionLost,
		rpctypes.ErrLeaderChanged, rpctypes.ErrNoLeader, rpctypes.ErrTooManyRequests,
		rpctypes.ErrTimeoutWaitAppliedIndex,
	} {
		if errors.Is(err, e) {
			return true
		}
	}
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded:
		return true
	}
	return false
}

// rangeAll reads every key in [start, end) at revision rev (0: latest), in
// pages, calling f for each. It returns the revision read at.
//
// etcd answers each page after walking the rest of the range (it counts
// the keys left), so pages of one size make a long range quadratic: 100
// pages of 1,000 task versions cost etcd 0.9 s of CPU where pages that
// double cost it 0.3 s (docs/keyspace.md, Cost).
func (s *Store) rangeAll(ctx context.Context, start, end string, rev int64, f func(k, v []byte) error) (int64, error) {
	from := start
	limit := int64(pageSize)
	for {
		var resp *clientv3.GetResponse
		err := retry(ctx, "range "+start, func(ctx context.Context) error {
			var err error
			resp, err = s.cli.Get(ctx, from, clientv3.WithRange(end), clientv3.WithRev(rev),
				clientv3.WithLimit(limit), clientv3.WithSort(clientv3.SortByKey, clientv3.SortAscend))
			return err
		})
		if err != nil {
			return 0, err
		}
		if rev == 0 {
			rev = resp.Header.Revision
		}
		bytes := 0
		for _, kv := range resp.Kvs {
			bytes += len(kv.Key) + len(kv.Value)
			if err := f(kv.Key, kv.Value); err != nil {
				return 0, err
			}
		}
		if !resp.More || len(resp.Kvs) == 0 {
			return rev, nil
		}
		from = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
		limit = nextPage(limit, len(resp.Kvs), bytes)
	}
}

// nextPage is the size of the page after one of n keys and bytes bytes
// read with limit: twice limit, at most maxPageKeys keys and, at the
// page's average key and value size, about maxPageBytes (never under
// pageSize).
func nextPage(limit int64, n, bytes int) int64 {
	next := min(2*limit, maxPageKeys)
	if avg := int64(bytes/n) + 1; next*avg > maxPageBytes {
		next = max(pageSize, maxPageBytes/avg)
	}
	return next
}

// Ping asks etcd for one key of the keyspace over cli's own connection, a
// serializable read any member answers alone: whether an endpoint answers
// at all, for commands that must fail at once on an unreachable etcd (the
// client otherwise dials lazily and retries forever). It replaced
// Maintenance.Status per endpoint, which dials a second connection for
// each: 5-15 ms of every command's start.
func Ping(ctx context.Context, cli *clientv3.Client) error {
	_, err := cli.Get(ctx, keyHead, clientv3.WithSerializable(), clientv3.WithCountOnly())
	return err
}
