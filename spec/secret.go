package spec

import (
	"crypto/pbkdf2"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"sync"
)

// digestIterations makes a digest cost about a millisecond: enough that a
// leaked digest of a weak password is not checked against a dictionary in
// bulk, cheap enough for thousands of tasks (digests are memoised per
// variable within a Load).
const digestIterations = 4096

// Digest is the salted, slow hash of a secret's value that dmplan keeps in
// place of the value: "pbkdf2-sha256:<hex>" (PBKDF2-HMAC-SHA256, 4096
// iterations, salt "dmplan/v1/secret/"+ref, 32 bytes). It shows that a value
// changed without revealing it. An empty value has the empty digest.
func Digest(ref, value string) string {
	if value == "" {
		return ""
	}
	key, err := pbkdf2.Key(sha256.New, value, []byte("dmplan/v1/secret/"+ref), digestIterations, sha256.Size)
	if err != nil {
		// Key fails only for lengths, salts or hashes that FIPS 140-only mode
		// forbids; a 32-byte SHA-256 key with a salt of 17 bytes or more is
		// allowed everywhere.
		panic("spec: pbkdf2: " + err.Error())
	}
	return "pbkdf2-sha256:" + hex.EncodeToString(key)
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
// once and computing each digest once. It is safe for concurrent use: the
// pieces of the files are decoded in parallel.
type secrets struct {
	getenv func(string) (string, bool)
	mu     sync.Mutex
	memo   map[string]resolved
}

type resolved struct {
	set    bool
	digest string
}

func newSecrets(getenv func(string) (string, bool)) *secrets {
	return &secrets{getenv: getenv, memo: map[string]resolved{}}
}

// resolve returns the Secret for ${ref}; ok is false when ref is unset.
func (s *secrets) resolve(ref string) (_ Secret, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, done := s.memo[ref]
	if !done {
		value, set := s.getenv(ref)
		r = resolved{set: set}
		if set {
			r.digest = Digest(ref, value)
		}
		s.memo[ref] = r
	}
	if !r.set {
		return Secret{}, false
	}
	return Secret{Ref: ref, Digest: r.digest}, true
}
