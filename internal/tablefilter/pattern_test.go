package tablefilter

import "testing"

func TestParsePatternErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", `"": empty pattern; want db.table`},
		{"!", `"!": empty pattern; want db.table`},
		{"shop", `"shop": missing "." and table pattern after the database; want db.table (use db.* for every table)`},
		{"shop.", `"shop.": table pattern is empty`},
		{".t", `".t": database pattern is empty`},
		{"a.b.c", `"a.b.c": unexpected "." after the table pattern; escape a literal dot as \. or quote the name`},
		{"shop-db.*", `"shop-db.*": database pattern has '-', which must be escaped with \ or quoted`},
		{" shop.*", `" shop.*": database pattern has ' ', which must be escaped with \ or quoted`},
		{"shop.t\\", `"shop.t\\": table pattern ends with "\"`},
		{"shop.\\n", `"shop.\\n": table pattern escapes 'n' (\n), which is reserved; only punctuation can be escaped`},
		{"shop.[a-", `"shop.[a-": table pattern has an unterminated [ character class`},
		{"shop.[]", `"shop.[]": table pattern has an empty [] character class`},
		{"shop.[z-a]", `"shop.[z-a]": table pattern has the reversed range z-a in a character class`},
		{"`shop.t", "\"`shop.t\": database pattern has an unterminated ` quote"},
		{"``.t", "\"``.t\": database pattern is an empty quoted name"},
		{"`a`b.t", "\"`a`b.t\": database pattern is partly quoted; quote the whole name"},
		{"a`b`.t", "\"a`b`.t\": database pattern is partly quoted; quote the whole name or escape the '`' with \\"},
		{"/^a/.t", `"/^a/.t": database pattern is a /regexp/, which is not supported; use * and ? wildcards`},
		{"@f.txt", `"@f.txt": database pattern imports a file (@), which is not supported`},
		{"a.`t`x", "\"a.`t`x\": table pattern is partly quoted; quote the whole name"},
		{"a.b\xff", `"a.b\xff": pattern is not valid UTF-8`},
	}
	for _, tt := range tests {
		_, err := ParsePattern(tt.in)
		if err == nil {
			t.Errorf("ParsePattern(%q) = nil error, want %s", tt.in, tt.want)
			continue
		}
		if err.Error() != tt.want {
			t.Errorf("ParsePattern(%q) error\n got: %s\nwant: %s", tt.in, err, tt.want)
		}
	}
}

func TestPatternString(t *testing.T) {
	tests := []struct{ in, want string }{
		{"shop.*", "shop.*"},
		{"!shop.tmp_*", "!shop.tmp_*"},
		{"`shop`.`orders`", "shop.orders"},
		{`"shop"."orders"`, "shop.orders"},
		{"`my.db`.`t*`", "`my.db`.`t*`"},
		{`my\.db.t*`, "`my.db`.t*"},
		{`my\.db*.t`, `my\.db*.t`},
		{"`a``b`.c", "`a``b`.c"},
		{`"a""b".c`, "`a\"b`.c"},
		{"shop.**x***", "shop.*x*"},
		{"db[0-9].t[!a-c_]?", "db[0-9].t[!a-c_]?"},
		{`db[\]\-].t`, `db[\]\-].t`},
		{"db[a-].t", `db[a\-].t`},
		{"日本.表*", "日本.表*"},
		{"$a_1.T", "$a_1.T"},
		{`a\ b.c`, "`a b`.c"},
	}
	for _, tt := range tests {
		p, err := ParsePattern(tt.in)
		if err != nil {
			t.Errorf("ParsePattern(%q): %v", tt.in, err)
			continue
		}
		if got := p.String(); got != tt.want {
			t.Errorf("ParsePattern(%q).String() = %q, want %q", tt.in, got, tt.want)
		}
		q, err := ParsePattern(p.String())
		if err != nil || q.String() != p.String() {
			t.Errorf("canonical %q does not parse back to itself: %q, %v", p.String(), q.String(), err)
		}
	}
}

func TestPatternMatch(t *testing.T) {
	tests := []struct {
		pattern   string
		db, table string
		want      bool
	}{
		{"shop.*", "shop", "orders", true},
		{"shop.*", "shop", "", true},
		{"shop.*", "shop2", "orders", false},
		{"shop.orders", "shop", "orders", true},
		{"shop.orders", "shop", "orders2", false},
		// Case-sensitive, as MySQL names are on Linux.
		{"Shop.*", "shop", "orders", false},
		{"shop.Orders", "shop", "orders", false},
		{"shop.Orders", "shop", "Orders", true},
		{"shop_?.t", "shop_1", "t", true},
		{"shop_?.t", "shop_12", "t", false},
		{"shop_?.t", "shop_", "t", false},
		{"*.backup_*", "any", "backup_2024", true},
		{"*.backup_*", "any", "backup", false},
		{"a*b*c.t", "aXbYbZc", "t", true},
		{"a*b*c.t", "aXbYbZ", "t", false},
		{"*a.t", "aaa", "t", true},
		{"db[0-9].t", "db7", "t", true},
		{"db[0-9].t", "dbx", "t", false},
		{"db[!0-9].t", "dbx", "t", true},
		{"db[!0-9].t", "db7", "t", false},
		{"db[a-c_].t", "db_", "t", true},
		// Quoted parts are literal: '*' is an ordinary character there.
		{"`my.db`.`t*`", "my.db", "t*", true},
		{"`my.db`.`t*`", "my.db", "tx", false},
		{"`my.db`.t*", "my.db", "tx", true},
		{`my\.db.t`, "my.db", "t", true},
		{`my\.db.t`, "myxdb", "t", false},
		// A character is a code point.
		{"caf?.t", "café", "t", true},
		{"日?.t", "日本", "t", true},
		{"日?.t", "日本語", "t", false},
		// A pattern never matches across the dot.
		{"a*.t", "a.b", "t", true},
		{"a.*", "a.b", "t", false},
	}
	for _, tt := range tests {
		p, err := ParsePattern(tt.pattern)
		if err != nil {
			t.Fatalf("ParsePattern(%q): %v", tt.pattern, err)
		}
		if got := p.Match(tt.db, tt.table); got != tt.want {
			t.Errorf("%q.Match(%q, %q) = %v, want %v", tt.pattern, tt.db, tt.table, got, tt.want)
		}
	}
}

func TestPatternLiteral(t *testing.T) {
	p, _ := ParsePattern("`a.b`.c")
	if db, table, ok := p.Literal(); !ok || db != "a.b" || table != "c" {
		t.Errorf("Literal() = %q, %q, %v", db, table, ok)
	}
	p, _ = ParsePattern("a.c*")
	if _, _, ok := p.Literal(); ok {
		t.Errorf("Literal() of a wildcard pattern is ok")
	}
}
