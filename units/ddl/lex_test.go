package ddl

import (
	"fmt"
	"strings"
	"testing"
)

func TestLex(t *testing.T) {
	toks, err := lex("ALTER /*!50100 TABLE*/ `a``b`.c -- x\n 'it''s \\' q' \"dq\" # c\n /* skip */ x.y", false, false)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, tk := range toks {
		got = append(got, fmt.Sprintf("%d:%s", tk.kind, tk.text))
	}
	want := "0:ALTER 0:TABLE 1:a`b 3:. 0:c 2:'it''s \\' q' 2:\"dq\" 0:x 3:. 0:y"
	if g := strings.Join(got, " "); g != want {
		t.Errorf("tokens\n got %s\nwant %s", g, want)
	}
	if _, err := lex("SELECT 'open", false, false); err == nil {
		t.Error("an unterminated string lexed without error")
	}
	// Under NO_BACKSLASH_ESCAPES a backslash ends nothing.
	toks, _ = lex(`'a\' b`, false, true)
	if len(toks) != 2 || toks[0].text != `'a\'` {
		t.Errorf("NO_BACKSLASH_ESCAPES: %+v", toks)
	}
}
