package store_test

import (
	"bytes"
	"strings"
	"sync"
	"testing"

	"github.com/dmplan/dmplan/internal/store"
)

// Each keyspace gets its own random salt, once: commands racing to create
// it agree on one, and the same password gives different digests in two
// installations.
func TestInstallationSalt(t *testing.T) {
	ctx := testCtx(t)
	s := fresh(t)
	var wg sync.WaitGroup
	got := make([]store.Installation, 8)
	for i := range got {
		wg.Go(func() {
			in, err := s.Installation(ctx)
			if err != nil {
				t.Error(err)
			}
			got[i] = in
		})
	}
	wg.Wait()
	for _, in := range got[1:] {
		if !bytes.Equal(in.Salt, got[0].Salt) || len(in.Salt) != 32 {
			t.Fatalf("racing creators got salts %x and %x", got[0].Salt, in.Salt)
		}
	}
	h1, err := s.Hasher(ctx)
	if err != nil {
		t.Fatal(err)
	}
	d1 := h1.Digest("SOURCE_PASSWORD", "same-password")

	s2 := fresh(t) // a second installation
	h2, err := s2.Hasher(ctx)
	if err != nil {
		t.Fatal(err)
	}
	d2 := h2.Digest("SOURCE_PASSWORD", "same-password")
	if d1 == d2 {
		t.Fatalf("the same password has the same digest %s in two installations", d1)
	}
	if !h2.Matches("SOURCE_PASSWORD", "same-password", d2) || h2.Matches("SOURCE_PASSWORD", "same-password", d1) {
		t.Error("a digest matches only within its installation")
	}

	// A damaged record is an error, not a new salt.
	if _, err := etcd.Client.Put(ctx, store.KeyInstall, `{"salt":""}`); err != nil {
		t.Fatal(err)
	}
	if _, err := s2.Installation(ctx); err == nil || !strings.Contains(err.Error(), "no valid salt") {
		t.Fatalf("damaged installation record: err = %v", err)
	}
}
