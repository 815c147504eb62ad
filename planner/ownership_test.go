package planner

import (
	"slices"
	"testing"

	"github.com/dmplan/dmplan/spec"
)

func TestTargetPatterns(t *testing.T) {
	r := func(from, to string) spec.Route { return spec.Route{From: from, To: to} }
	cases := []struct {
		name   string
		tables []string
		routes []spec.Route
		want   []string
	}{
		{"identity", []string{"shop.*", "!shop.tmp_*"}, nil, []string{"shop.*"}},
		{"merged shards and the rest", []string{"shop.*"}, []spec.Route{r("shop.orders_*", "shop.orders")}, []string{"shop.*", "shop.orders"}},
		{"route covers the pattern", []string{"sa.orders"}, []spec.Route{r("sa.*", "dw.orders")}, []string{"dw.orders"}},
		{"first covering route wins", []string{"sa.orders"}, []spec.Route{r("sa.orders", "dw.a"), r("sa.*", "dw.b")}, []string{"dw.a"}},
		{"route elsewhere", []string{"crm.*"}, []spec.Route{r("shop.*", "dw.shop")}, []string{"crm.*"}},
	}
	for _, c := range cases {
		if got := targetPatterns(c.tables, c.routes); !slices.Equal(got, c.want) {
			t.Errorf("%s: targetPatterns = %q, want %q", c.name, got, c.want)
		}
	}
}

func TestOrphanedTargets(t *testing.T) {
	r := func(from, to string) spec.Route { return spec.Route{From: from, To: to} }
	cases := []struct {
		name   string
		tables []string
		c, w   []spec.Route
		want   []string
	}{
		{"route added: the shards' own tables", []string{"shop.*"}, nil, []spec.Route{r("shop.orders_*", "shop.orders")}, []string{"shop.orders_*"}},
		{"route removed: its target", []string{"crm.*"}, []spec.Route{r("crm.orders", "arch.orders")}, nil, []string{"arch.orders"}},
		{"target renamed", []string{"crm.*"}, []spec.Route{r("crm.orders", "arch.orders")}, []spec.Route{r("crm.orders", "arch.orders2")}, []string{"arch.orders"}},
		{"reordered", []string{"a.*"}, []spec.Route{r("a.x", "b.x"), r("a.y", "b.y")}, []spec.Route{r("a.y", "b.y"), r("a.x", "b.x")}, nil},
		{"narrowed, same target", []string{"a.*"}, []spec.Route{r("a.t_*", "b.t")}, []spec.Route{r("a.t_1*", "b.t")}, nil},
		{"route of unselected tables", []string{"a.*"}, []spec.Route{r("z.t", "b.t")}, nil, nil},
		{"new route under an old one", []string{"a.*"}, []spec.Route{r("a.*", "b.all")}, []spec.Route{r("a.x", "b.x"), r("a.*", "b.all")}, nil},
	}
	for _, c := range cases {
		if got := orphanedTargets(c.tables, c.c, c.w); !slices.Equal(got, c.want) {
			t.Errorf("%s: orphanedTargets = %q, want %q", c.name, got, c.want)
		}
	}
}
