package spec

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/sha256"
	"encoding/hex"
	"runtime"
	"strings"
	"sync"

	"golang.org/x/crypto/argon2"
)

// Argon2id parameters of a digest (docs/keyspace.md, "Secrets", says why):
// one pass over 512 KiB, one lane. A digest costs about a millisecond of one
// core; a plan computes one per distinct password value, in parallel.
const (
	argonTime    = 1
	argonMemory  = 512 // KiB
	argonThreads = 1
	argonKeyLen  = 32
)

// DigestPrefix starts every digest in the current form; LegacyPrefix every
// digest written by dmplan before installation salts.
const (
	DigestPrefix = "argon2id-hmac:"
	LegacyPrefix = "pbkdf2-sha256:"
)

// Hasher computes the digests dmplan keeps in place of password values for
// one installation. A digest is
//
//	"argon2id-hmac:" hex(HMAC-SHA256(K, "dmplan/v1/secret/" + ref))
//	K = Argon2id(value, installation salt, t=1, m=512 KiB, p=1, 32 bytes)
//
// The installation salt is random, created with the keyspace and kept in
// etcd, so the same password gives different digests in two installations
// and no table computed in advance applies. The reference (the variable's
// name) salts each secret apart, so two secrets with one value do not show
// it; it goes into the cheap HMAC, so K, the costly part, is computed once
// per distinct value and cached, keyed by value, for the Hasher's lifetime
// (its salt is fixed). A Hasher is safe for concurrent use; values are
// hashed in parallel.
type Hasher struct {
	salt []byte
	mu   sync.Mutex
	keys map[string]*hashed // value -> K; never printed
}

type hashed struct {
	once sync.Once
	key  []byte
}

// maxCached bounds the keys a long-lived Hasher keeps: an agent sees each
// rotated value once, so old ones pile up.
const maxCached = 4096

// NewHasher returns a Hasher for an installation's salt. A nil salt gives
// digests under no installation salt: for tests, validation and tools that
// never compare with an installation's digests.
func NewHasher(salt []byte) *Hasher {
	return &Hasher{salt: append([]byte("dmplan/v1/installation/"), salt...), keys: map[string]*hashed{}}
}

// Digest returns the digest of value for the secret ref. An empty value
// has the empty digest.
func (h *Hasher) Digest(ref, value string) string {
	if value == "" {
		return ""
	}
	mac := hmac.New(sha256.New, h.key(value))
	mac.Write([]byte("dmplan/v1/secret/" + ref))
	return DigestPrefix + hex.EncodeToString(mac.Sum(nil))
}

// Matches reports whether value is the value a digest of ref was computed
// from, in either form (see IsLegacy).
func (h *Hasher) Matches(ref, value, digest string) bool {
	if IsLegacy(digest) {
		return LegacyDigest(ref, value) == digest
	}
	return h.Digest(ref, value) == digest
}

func (h *Hasher) key(value string) []byte {
	h.mu.Lock()
	e, ok := h.keys[value]
	if !ok {
		if len(h.keys) >= maxCached {
			clear(h.keys)
		}
		e = &hashed{}
		h.keys[value] = e
	}
	h.mu.Unlock()
	e.once.Do(func() {
		e.key = argon2.IDKey([]byte(value), h.salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	})
	return e.key
}

// Digest is NewHasher(nil).Digest: a digest under no installation salt.
// Tests and tools use it; plan, apply and agents use the installation's
// Hasher.
func Digest(ref, value string) string { return NewHasher(nil).Digest(ref, value) }

// IsLegacy reports whether a digest is in the form dmplan wrote before
// installation salts: PBKDF2-HMAC-SHA256, 4,096 iterations, salted by the
// variable's name only. Such a digest is recognised (Matches) and
// rewritten in the current form by the next apply.
func IsLegacy(digest string) bool { return strings.HasPrefix(digest, LegacyPrefix) }

// LegacyDigest computes a digest in the legacy form, to recognise one.
func LegacyDigest(ref, value string) string {
	if value == "" {
		return ""
	}
	key, err := pbkdf2.Key(sha256.New, value, []byte("dmplan/v1/secret/"+ref), 4096, sha256.Size)
	if err != nil {
		// Key fails only for lengths, salts or hashes that FIPS 140-only mode
		// forbids; a 32-byte SHA-256 key with a salt of 17 bytes or more is
		// allowed everywhere.
		panic("spec: pbkdf2: " + err.Error())
	}
	return LegacyPrefix + hex.EncodeToString(key)
}

// secretRefName returns VAR of a whole-value ${VAR} reference, where VAR
// is [A-Za-z_][A-Za-z0-9_]*; ok is false for anything else.
func secretRefName(s string) (string, bool) {
	name, ok := strings.CutPrefix(s, "${")
	if !ok {
		return "", false
	}
	if name, ok = strings.CutSuffix(name, "}"); !ok || name == "" {
		return "", false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c != '_' && (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (i == 0 || c < '0' || c > '9') {
			return "", false
		}
	}
	return name, true
}

// secrets resolves ${VAR} references during one Load, reading each variable
// once. It is safe for concurrent use: the pieces of the files are decoded
// in parallel. Digests are computed after decoding, by fill, one per
// variable and in parallel, so their cost is spread over the cores
// whatever the shape of the files.
type secrets struct {
	getenv func(string) (string, bool)
	hasher *Hasher
	mu     sync.Mutex
	memo   map[string]*resolved
}

type resolved struct {
	name   string
	set    bool
	value  string // held until fill; never printed
	digest string
}

func newSecrets(getenv func(string) (string, bool), h *Hasher) *secrets {
	return &secrets{getenv: getenv, hasher: h, memo: map[string]*resolved{}}
}

// resolve returns the Secret for ${ref}, without its digest (see fill);
// ok is false when ref is unset.
func (s *secrets) resolve(ref string) (_ Secret, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, done := s.memo[ref]
	if !done {
		value, set := s.getenv(ref)
		r = &resolved{set: set, value: value}
		s.memo[ref] = r
	}
	if !r.set {
		return Secret{}, false
	}
	return Secret{Ref: ref}, true
}

// fill computes the digest of every variable resolved, in parallel, puts
// them into the set's secrets and forgets the values.
func (s *secrets) fill(set *Set) {
	refs := make(chan *resolved)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(s.memo)) {
		wg.Go(func() {
			for r := range refs {
				r.digest = s.hasher.Digest(r.name, r.value)
			}
		})
	}
	for ref, r := range s.memo {
		if r.set {
			r.name = ref
			refs <- r
		}
	}
	close(refs)
	wg.Wait()
	digest := func(sec *Secret) {
		if sec.Ref != "" {
			sec.Digest = s.memo[sec.Ref].digest
		}
	}
	for i := range set.Sources {
		digest(&set.Sources[i].Password)
	}
	for i := range set.Tasks {
		digest(&set.Tasks[i].Target.Password)
	}
	for _, r := range s.memo {
		r.value = ""
	}
}
