package planner

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/dmplan/dmplan/spec"
)

// A plan file holds no secret digest (docs/keyspace.md, "Secrets"): in the
// plan it saves, each password keeps its reference and, in place of its
// digest, where apply takes the digest from:
const (
	// SealedApplied: the digest the applied state holds for the same
	// object's password (unchanged by the plan). Apply copies it from the
	// state at the plan's base revision, which the plan's guard ensures
	// is the state in etcd.
	SealedApplied = "applied"
	// SealedEnv: a new value (a new object, a changed password or
	// reference, a legacy digest to rewrite). Apply computes the digest
	// from its own environment with the installation's salt, as apply -f
	// does, and checks it against what the plan said.
	SealedEnv = "environment"
)

// ErrSecretMoved: at apply, a password in apply's environment is not what
// the plan was made with.
var ErrSecretMoved = errors.New("a password is not the one the plan was made with")

// IsSealed reports whether a digest is a plan file's mark (SealedApplied,
// SealedEnv) rather than a digest.
func IsSealed(digest string) bool { return digest == SealedApplied || digest == SealedEnv }

// SealSecrets returns a copy of p whose desired passwords carry, in place
// of their digests, SealedApplied where the digest equals the applied one
// of the same object in current (the state p was computed from, as read:
// legacy digests not rewritten) and SealedEnv elsewhere. It is what a plan
// file saves (WriteFile refuses anything else); ResolveSecrets undoes it.
func SealSecrets(p *Plan, current State) *Plan {
	out := *p
	out.Desired = State{Sources: make(map[string]spec.Source, len(p.Desired.Sources)),
		Tasks: make(map[string]spec.Task, len(p.Desired.Tasks)), Bounds: p.Desired.Bounds}
	seal := func(s spec.Secret, cur spec.Secret, inCur bool) spec.Secret {
		switch {
		case s.IsZero():
		case inCur && cur == s:
			s.Digest = SealedApplied
		default:
			s.Digest = SealedEnv
		}
		return s
	}
	for name, src := range p.Desired.Sources {
		c, ok := current.Sources[name]
		src.Password = seal(src.Password, c.Password, ok)
		out.Desired.Sources[name] = src
	}
	for name, t := range p.Desired.Tasks {
		c, ok := current.Tasks[name]
		t.Target.Password = seal(t.Target.Password, c.Target.Password, ok)
		out.Desired.Tasks[name] = t
	}
	return &out
}

// sealedOnly reports the first password of st that holds a digest rather
// than a mark, "" when none does.
func sealedOnly(st State) string {
	for name, s := range st.Sources {
		if d := s.Password.Digest; d != "" && !IsSealed(d) {
			return "source " + name
		}
	}
	for name, t := range st.Tasks {
		if d := t.Target.Password.Digest; d != "" && !IsSealed(d) {
			return "task " + name
		}
	}
	return ""
}

// HasSealed reports whether any password of st still carries a mark.
func HasSealed(st State) bool {
	for _, s := range st.Sources {
		if IsSealed(s.Password.Digest) {
			return true
		}
	}
	for _, t := range st.Tasks {
		if IsSealed(t.Target.Password.Digest) {
			return true
		}
	}
	return false
}

// ResolveSecrets puts digests back in place of the marks of a plan read
// from a file, in place, for apply: current must be the applied state at
// p.BaseRevision, h the installation's Hasher, getenv apply's environment.
// It fails (ErrSecretMoved) when apply's environment contradicts the plan:
// a new password whose variable is unset, a password the plan changes
// that holds the applied value, a variable whose value differs from the
// one the objects that keep their digest were applied with, a legacy
// digest to rewrite whose value changed. Apply then writes nothing: plan
// again.
func ResolveSecrets(p *Plan, current State, h *spec.Hasher, getenv func(string) (string, bool)) error {
	var errs []string
	byRef := map[string]string{} // ref -> the digest every object using it ends with
	owners := map[string][]string{}
	rewrite := map[string]bool{}
	for _, r := range p.Rewrite {
		rewrite[r] = true
	}
	resolve := func(what string, s *spec.Secret, cur spec.Secret, inCur bool) {
		switch s.Digest {
		case SealedApplied:
			if !inCur || cur.Ref != s.Ref || IsSealed(cur.Digest) {
				errs = append(errs, fmt.Sprintf("the plan keeps the applied password of %s (${%s}), but the applied state has none such", what, s.Ref))
				return
			}
			s.Digest = cur.Digest
		case SealedEnv:
			v, ok := getenv(s.Ref)
			if !ok {
				errs = append(errs, fmt.Sprintf("the plan sets the password of %s from ${%s}, which is not set in apply's environment: set it (to the value the agents are given)", what, s.Ref))
				return
			}
			unchanged := inCur && cur.Ref == s.Ref && h.Matches(s.Ref, v, cur.Digest)
			switch {
			case rewrite[s.Ref] && !unchanged:
				errs = append(errs, fmt.Sprintf("the plan rewrites the digest of ${%s} (%s) for an unchanged password, but apply's ${%s} is another value", s.Ref, what, s.Ref))
				return
			case unchanged && !rewrite[s.Ref]:
				errs = append(errs, fmt.Sprintf("the plan changes the password of %s (${%s}), but apply's ${%s} holds the applied value", what, s.Ref, s.Ref))
				return
			}
			s.Digest = h.Digest(s.Ref, v)
		default:
			return
		}
		if s.Ref == "" {
			return
		}
		if d, seen := byRef[s.Ref]; seen && d != s.Digest && !spec.IsLegacy(d) && !spec.IsLegacy(s.Digest) {
			errs = append(errs, fmt.Sprintf("apply's ${%s} is not the value the plan was made with: %s and %s would get different digests", s.Ref, strings.Join(owners[s.Ref], ", "), what))
			return
		}
		byRef[s.Ref] = s.Digest
		owners[s.Ref] = append(owners[s.Ref], what)
	}
	for _, name := range sortedKeys(p.Desired.Sources) {
		src := p.Desired.Sources[name]
		c, ok := current.Sources[name]
		resolve("source "+name, &src.Password, c.Password, ok)
		p.Desired.Sources[name] = src
	}
	for _, name := range sortedKeys(p.Desired.Tasks) {
		t := p.Desired.Tasks[name]
		c, ok := current.Tasks[name]
		resolve("the target of task "+name, &t.Target.Password, c.Target.Password, ok)
		p.Desired.Tasks[name] = t
	}
	if len(errs) > 0 {
		errs = slices.Compact(errs)
		return fmt.Errorf("%w; nothing was applied: plan again with the passwords apply will use:\n  - %s", ErrSecretMoved, strings.Join(errs, "\n  - "))
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
