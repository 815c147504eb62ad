package onlineddl

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
)

// Config is spec.onlineDDL. The zero value is on, with DM's rules.
type Config struct {
	Off    bool     `json:"off,omitempty"`
	Shadow []string `json:"shadow,omitempty"` // empty: DefaultShadow
	Trash  []string `json:"trash,omitempty"`  // empty: DefaultTrash
}

// DM's default rules.
var (
	DefaultShadow = []string{`^_(.+)_(?:new|gho)$`}
	DefaultTrash  = []string{`^_(.+)_(?:ghc|del|old)$`}
)

// Key is the canonical text of c, for config fingerprints.
func (c Config) Key() string {
	if !c.Off && len(c.Shadow) == 0 && len(c.Trash) == 0 {
		return "{}" // the default, what almost every task has
	}
	b, _ := json.Marshal(c) // strings and a bool: cannot fail
	return string(b)
}

// Equal reports whether c and d have the same Key, without encoding
// either (a plan or an apply compares every task of a large state).
func (c Config) Equal(d Config) bool {
	return c.Off == d.Off && slices.Equal(c.Shadow, d.Shadow) && slices.Equal(c.Trash, d.Trash)
}

// Kind is what a table is to the online schema change rules.
type Kind uint8

const (
	Real   Kind = iota // an ordinary table
	Shadow             // the tool's copy being altered
	Trash              // the tool's changelog, or the old table after the swap
)

func (k Kind) String() string {
	switch k {
	case Shadow:
		return "shadow"
	case Trash:
		return "trash"
	}
	return "real"
}

// Rules are compiled rules; nil when online DDL is off.
type Rules struct{ shadow, trash []*regexp.Regexp }

// Compile compiles c; nil when c is off.
func Compile(c Config) (*Rules, error) {
	if c.Off {
		return nil, nil
	}
	shadow, trash := c.Shadow, c.Trash
	if len(shadow) == 0 {
		shadow = DefaultShadow
	}
	if len(trash) == 0 {
		trash = DefaultTrash
	}
	r := &Rules{}
	for _, list := range []struct {
		name string
		src  []string
		dst  *[]*regexp.Regexp
	}{{"shadow", shadow, &r.shadow}, {"trash", trash, &r.trash}} {
		for i, s := range list.src {
			re, err := regexp.Compile(s)
			if err != nil {
				return nil, fmt.Errorf("onlineDDL.%s[%d]: %w", list.name, i, err)
			}
			if re.NumSubexp() < 1 {
				return nil, fmt.Errorf("onlineDDL.%s[%d] %q: no group captures the real table's name", list.name, i, s)
			}
			*list.dst = append(*list.dst, re)
		}
	}
	return r, nil
}

// Classify says what table name is, and for a shadow or trash table the
// name of the real table it belongs to (in the same database).
func (r *Rules) Classify(table string) (Kind, string) {
	if r == nil {
		return Real, table
	}
	for _, re := range r.shadow {
		if m := re.FindStringSubmatch(table); m != nil && m[1] != "" {
			return Shadow, m[1]
		}
	}
	for _, re := range r.trash {
		if m := re.FindStringSubmatch(table); m != nil && m[1] != "" {
			return Trash, m[1]
		}
	}
	return Real, table
}
