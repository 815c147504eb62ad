package ddl

import (
	"strings"
	"testing"
)

// TestUnreadableStatements: a statement the lexer cannot read is skipped
// only when it is of a kind never replicated; anything else stops sync
// with an error that says what to do.
func TestUnreadableStatements(t *testing.T) {
	r := everything{}
	for _, tt := range []struct {
		query string
		skip  bool
	}{
		{"CREATE USER 'u'@'%' IDENTIFIED BY 'unterminated", true},
		{"ALTER USER u IDENTIFIED BY 'x", true},
		{"GRANT ALL ON *.* TO 'u", true},
		{"SET PASSWORD FOR u = PASSWORD('x", true},
		{"/* c */ CREATE DEFINER=`root`@`localhost` VIEW v AS SELECT 'x", true},
		{"CREATE OR REPLACE TEMPORARY TABLE t (a INT DEFAULT 'x", true},
		{"CREATE TABLE t9 (a VARCHAR(5) DEFAULT 'unterminated)", false},
		{"ALTER TABLE shop.t ADD COLUMN c INT COMMENT 'x", false},
		{"DROP TABLE `t", false},
		{"INSERT INTO t VALUES ('x", false},
		{"'", false},
	} {
		p, err := PlanStatement(r, "shop", tt.query, 0)
		switch {
		case tt.skip && (p != nil || err != nil):
			t.Errorf("%s: plan %v, error %v; want skipped", tt.query, p, err)
		case !tt.skip && err == nil:
			t.Errorf("%s: no error; want one", tt.query)
		case !tt.skip && !strings.Contains(err.Error(), "cannot read it") && !strings.Contains(err.Error(), "apply it to the target by hand"):
			t.Errorf("%s: error %v does not say what to do", tt.query, err)
		}
	}
}
