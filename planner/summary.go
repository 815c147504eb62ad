package planner

import "strconv"

// Summary counts a plan's changes by action.
type Summary struct {
	Create  int `json:"create"`
	Update  int `json:"update"`
	Replace int `json:"replace"`
	Delete  int `json:"delete"`
}

// Summary counts the plan's changes by action.
func (p *Plan) Summary() Summary {
	var s Summary
	for _, c := range p.Changes {
		switch c.Action {
		case Create:
			s.Create++
		case Update:
			s.Update++
		case Replace:
			s.Replace++
		case Delete:
			s.Delete++
		}
	}
	return s
}

// HasChanges reports whether applying the plan would change anything.
// Rewriting legacy digests (Rewrite) is a change, though to no object.
func (p *Plan) HasChanges() bool { return len(p.Changes) > 0 || len(p.Rewrite) > 0 }

// String is the plan's last line: "Plan: 1 to create, 0 to update, 0 to
// replace, 0 to delete." or "No changes.".
func (s Summary) String() string {
	if s == (Summary{}) {
		return "No changes."
	}
	return "Plan: " + strconv.Itoa(s.Create) + " to create, " + strconv.Itoa(s.Update) + " to update, " +
		strconv.Itoa(s.Replace) + " to replace, " + strconv.Itoa(s.Delete) + " to delete."
}

// maxListed bounds the names a summary line lists.
const maxListed = 10

// waitingLine says which sources have no live agent, or "" when none.
func waitingLine(p *Plan) string {
	if len(p.Waiting) == 0 {
		return ""
	}
	noun := "sources wait"
	if len(p.Waiting) == 1 {
		noun = "source waits"
	}
	list := p.Waiting
	more := ""
	if len(list) > maxListed {
		list, more = list[:maxListed], " and "+strconv.Itoa(len(p.Waiting)-maxListed)+" more"
	}
	return "Waiting: " + strconv.Itoa(len(p.Waiting)) + " " + noun + " for an agent: " + names(list) + more + "."
}
