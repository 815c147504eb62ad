package store

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/dmplan/dmplan/spec"
)

// Installation is what identifies one dmplan keyspace: the random salt of
// its password digests (spec.Hasher). It is created once, by the first
// command that needs it, and never changes: changing it would make every
// applied digest look like a changed password.
type Installation struct {
	Salt []byte `json:"salt"` // 32 random bytes (base64 in JSON)
}

const saltLen = 32

// Installation returns the keyspace's installation record, creating it
// (with a fresh random salt) when the keyspace has none. Two commands
// creating it at once agree on one: the create is guarded.
func (s *Store) Installation(ctx context.Context) (Installation, error) {
	// Read first: an etcd user that may only read can still plan.
	var got *clientv3.GetResponse
	err := retry(ctx, "read installation", func(ctx context.Context) error {
		var err error
		got, err = s.cli.Get(ctx, keyInstall)
		return err
	})
	if err != nil {
		return Installation{}, err
	}
	if len(got.Kvs) > 0 {
		return decodeInstallation(got.Kvs[0].Value)
	}
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return Installation{}, fmt.Errorf("create installation salt: %w", err)
	}
	fresh, err := json.Marshal(Installation{Salt: salt})
	if err != nil {
		return Installation{}, fmt.Errorf("create installation salt: %w", err)
	}
	var resp *clientv3.TxnResponse
	err = retry(ctx, "create installation", func(ctx context.Context) error {
		var err error
		resp, err = s.cli.Txn(ctx).
			If(clientv3.Compare(clientv3.CreateRevision(keyInstall), "=", 0)).
			Then(clientv3.OpPut(keyInstall, string(fresh))).
			Else(clientv3.OpGet(keyInstall)).
			Commit()
		return err
	})
	if err != nil {
		return Installation{}, fmt.Errorf("%w (the keyspace has no installation salt yet; creating it needs write access to %s once; run \"dmplan apply\" or \"dmplan plan\" with an etcd user that may write)", err, keyInstall)
	}
	if resp.Succeeded {
		s.log.Info("created the installation salt of password digests", "key", keyInstall)
		return Installation{Salt: salt}, nil
	}
	kvs := resp.Responses[0].GetResponseRange().Kvs
	if len(kvs) == 0 {
		return Installation{}, fmt.Errorf("read installation: %w: %s vanished", ErrCorrupt, keyInstall)
	}
	return decodeInstallation(kvs[0].Value)
}

func decodeInstallation(b []byte) (Installation, error) {
	var in Installation
	if json.Unmarshal(b, &in) != nil || len(in.Salt) < 16 {
		return Installation{}, fmt.Errorf("read installation: %w: %s holds no valid salt", ErrCorrupt, keyInstall)
	}
	return in, nil
}

// Hasher returns the spec.Hasher of the keyspace's installation salt.
func (s *Store) Hasher(ctx context.Context) (*spec.Hasher, error) {
	in, err := s.Installation(ctx)
	if err != nil {
		return nil, err
	}
	return spec.NewHasher(in.Salt), nil
}
