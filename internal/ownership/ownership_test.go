package ownership

import "testing"

func TestDecide(t *testing.T) {
	b := []Writer{{Task: "merge", Source: "b", Mode: "incremental"}}
	cases := []struct {
		name string
		f    Facts
		want Action
	}{
		{"absent", Facts{}, Keep},
		{"absent, shared", Facts{Others: b, Wrote: true}, Keep},
		{"own table", Facts{Exists: true, Created: true, Wrote: true}, Drop},
		{"own empty table", Facts{Exists: true, Created: true, Empty: true}, Drop},
		{"empty, made by hand", Facts{Exists: true, Empty: true, Wrote: true}, Keep},
		{"empty, shared", Facts{Exists: true, Empty: true, Created: true, Wrote: true, Others: b}, Keep},
		{"shared, never wrote", Facts{Exists: true, Others: b}, LoadBeside},
		{"shared, created it", Facts{Exists: true, Created: true, Wrote: true, Others: b}, RefuseShared},
		{"shared, wrote", Facts{Exists: true, Wrote: true, Others: b}, RefuseShared},
		{"rows made by hand", Facts{Exists: true, Wrote: true}, RefuseForeign},
		{"rows made by hand, never wrote", Facts{Exists: true}, RefuseForeign},
	}
	for _, c := range cases {
		if got := Decide(c.f); got != c.want {
			t.Errorf("%s: Decide = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestNames(t *testing.T) {
	got := Names([]Writer{{Task: "z", Source: "b", Mode: "all"}, {Task: "a", Source: "c"}, {Task: "m", Source: "m", Table: "`s`.`t`"}})
	if want := "a/c, m/m (table `s`.`t`), z/b (all)"; got != want {
		t.Errorf("Names = %q, want %q", got, want)
	}
}
