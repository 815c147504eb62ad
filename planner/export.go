package planner

import (
	"sort"

	"github.com/dmplan/dmplan/spec"
)

// Spec turns a State back into a desired-state Set (sorted by name), the
// inverse of FromSpec: bounds are not part of the desired state, a source's
// pinned worker is.
func (s State) Spec() *spec.Set {
	set := &spec.Set{Origin: map[string]string{}}
	for _, src := range s.Sources {
		set.Sources = append(set.Sources, src)
	}
	for _, t := range s.Tasks {
		set.Tasks = append(set.Tasks, t)
	}
	sort.Slice(set.Sources, func(i, j int) bool { return set.Sources[i].Name < set.Sources[j].Name })
	sort.Slice(set.Tasks, func(i, j int) bool { return set.Tasks[i].Name < set.Tasks[j].Name })
	return set
}
