package onlineddl

import (
	"encoding/json"
	"testing"

	"github.com/dmplan/dmplan/internal/deptest"
)

func TestPure(t *testing.T) { deptest.Only(t) }

func TestClassify(t *testing.T) {
	def, err := Compile(Config{})
	if err != nil {
		t.Fatal(err)
	}
	custom, err := Compile(Config{Shadow: []string{`^(.+)_shadow$`}})
	if err != nil {
		t.Fatal(err)
	}
	off, _ := Compile(Config{Off: true})
	for _, tt := range []struct {
		r    *Rules
		name string
		kind Kind
		real string
	}{
		{def, "orders", Real, "orders"},
		{def, "_orders_gho", Shadow, "orders"},
		{def, "_orders_new", Shadow, "orders"},
		{def, "_order_items_new", Shadow, "order_items"},
		{def, "_orders_ghc", Trash, "orders"},
		{def, "_orders_del", Trash, "orders"},
		{def, "_orders_old", Trash, "orders"},
		{def, "orders_new", Real, "orders_new"},
		{def, "__new", Real, "__new"},
		{custom, "orders_shadow", Shadow, "orders"},
		{custom, "_orders_old", Trash, "orders"}, // the default trash rule still applies
		{custom, "_orders_gho", Real, "_orders_gho"},
		{off, "_orders_gho", Real, "_orders_gho"},
	} {
		k, real := tt.r.Classify(tt.name)
		if k != tt.kind || real != tt.real {
			t.Errorf("Classify(%s) = %s %s, want %s %s", tt.name, k, real, tt.kind, tt.real)
		}
	}
	if _, err := Compile(Config{Trash: []string{"^x$"}}); err == nil {
		t.Error("a rule without a group compiled")
	}
	if (Config{}).Key() == (Config{Off: true}).Key() {
		t.Error("keys of on and off are equal")
	}
}

// TestEqualIsKeyEquality: Equal, which plans and applies use to compare
// every task, agrees with comparing Keys (the fingerprint's text).
func TestEqualIsKeyEquality(t *testing.T) {
	configs := []Config{
		{}, {Shadow: []string{}}, {Off: true}, {Shadow: []string{"^a$"}}, {Trash: []string{"^a$"}},
		{Shadow: []string{"^a$", "^b$"}}, {Shadow: []string{"^b$", "^a$"}}, {Off: true, Trash: []string{"^a$"}},
	}
	for _, a := range configs {
		for _, b := range configs {
			if got, want := a.Equal(b), a.Key() == b.Key(); got != want {
				t.Errorf("%+v.Equal(%+v) = %v, want %v (keys %s, %s)", a, b, got, want, a.Key(), b.Key())
			}
		}
	}
	if b, _ := json.Marshal(Config{}); (Config{}).Key() != string(b) {
		t.Errorf("Key of the zero config = %s, want %s", Config{}.Key(), b)
	}
}
