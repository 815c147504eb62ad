package planner

import (
	"slices"
	"strings"

	"github.com/dmplan/dmplan/spec"
)

// mapSecrets returns a copy of s whose every password has gone through f.
// The maps are new; the objects are copies.
func mapSecrets(s State, f func(spec.Secret) spec.Secret) State {
	out := State{Sources: make(map[string]spec.Source, len(s.Sources)), Tasks: make(map[string]spec.Task, len(s.Tasks)), Bounds: s.Bounds}
	for k, src := range s.Sources {
		src.Password = f(src.Password)
		out.Sources[k] = src
	}
	for k, t := range s.Tasks {
		t.Target.Password = f(t.Target.Password)
		out.Tasks[k] = t
	}
	return out
}

// RewriteLegacyDigests prepares a current state whose password digests may
// be in the legacy form (spec.IsLegacy) for Diff. rewrite is asked about
// each legacy digest: it returns the digest in the current form and true
// when the value it holds for the reference still matches (the password
// did not change). Those digests are replaced, so Diff shows no change for
// them; the others stay, so a changed password still shows. It returns
// the state and the references rewritten, sorted; the caller puts the
// references that the desired state still uses in Plan.Rewrite, so that
// applying the plan writes the current form.
func RewriteLegacyDigests(current State, rewrite func(ref, digest string) (string, bool)) (State, []string) {
	found := false
	for _, src := range current.Sources {
		found = found || spec.IsLegacy(src.Password.Digest)
	}
	for _, t := range current.Tasks {
		found = found || spec.IsLegacy(t.Target.Password.Digest)
	}
	if !found {
		return current, nil
	}
	var refs []string
	out := mapSecrets(current, func(s spec.Secret) spec.Secret {
		if !spec.IsLegacy(s.Digest) {
			return s
		}
		if d, ok := rewrite(s.Ref, s.Digest); ok {
			refs = append(refs, s.Ref)
			s.Digest = d
		}
		return s
	})
	slices.Sort(refs)
	return out, slices.Compact(refs)
}

// UsedRefs reports which of refs the state's passwords use.
func (s State) UsedRefs(refs []string) []string {
	if len(refs) == 0 {
		return nil
	}
	used := map[string]bool{}
	for _, src := range s.Sources {
		used[src.Password.Ref] = true
	}
	for _, t := range s.Tasks {
		used[t.Target.Password.Ref] = true
	}
	var out []string
	for _, r := range refs {
		if used[r] {
			out = append(out, r)
		}
	}
	return out
}

// rewriteLine is the plan's one line about legacy digests, or "".
func rewriteLine(p *Plan) string {
	if len(p.Rewrite) == 0 {
		return ""
	}
	refs := make([]string, len(p.Rewrite))
	for i, r := range p.Rewrite {
		refs[i] = "${" + r + "}"
	}
	return "Digests: the applied digests of " + strings.Join(refs, ", ") +
		" are in the old unsalted form; this apply rewrites them with the installation's salt (the passwords are unchanged; nothing restarts)."
}

// DiffRewriting is Diff against a current state whose digests may be in
// the legacy form: they are rewritten first (RewriteLegacyDigests), and
// the plan's Rewrite lists those the desired state still uses. A nil
// rewrite recognises none. Unlike Diff, it does not copy desired's Sources
// and Tasks (100,000 tasks are 40 MB): they become the plan's Desired, and
// the caller must not change them after.
func DiffRewriting(desired, current State, workers []Worker, rewrite func(ref, digest string) (string, bool)) *Plan {
	var refs []string
	if rewrite != nil {
		current, refs = RewriteLegacyDigests(current, rewrite)
	}
	p := diff(desired, current, workers)
	p.Rewrite = desired.UsedRefs(refs)
	return p
}

// LegacyRewriter is the usual rewrite for DiffRewriting: getenv holds the
// values the desired state was loaded with, h the installation's Hasher.
func LegacyRewriter(h *spec.Hasher, getenv func(string) (string, bool)) func(ref, digest string) (string, bool) {
	return func(ref, digest string) (string, bool) {
		v, ok := getenv(ref)
		if !ok || spec.LegacyDigest(ref, v) != digest {
			return "", false
		}
		return h.Digest(ref, v), true
	}
}
