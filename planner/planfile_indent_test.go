package planner

import (
	"bufio"
	"bytes"
	"encoding/json"
	"testing"
)

// TestIndenterIsJSONIndent: the streaming indenter of WriteFile writes what
// json.Indent writes, for a plan and for the corners of JSON.
func TestIndenterIsJSONIndent(t *testing.T) {
	plan, err := json.Marshal(samplePlan(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, src := range []string{
		string(plan),
		`{}`, `[]`, `{"a":{},"b":[],"c":[{}],"d":[[],[1]]}`,
		`{"s":"a\"b\\\\","t":"{[,:]}","u":"\u003c\\"}`,
		`[1,-2.5e3,true,false,null,"x"]`,
	} {
		var want bytes.Buffer
		if err := json.Indent(&want, []byte(src), "", "  "); err != nil {
			t.Fatal(err)
		}
		var got bytes.Buffer
		bw := bufio.NewWriter(&got)
		in := indenter{w: bw}
		// In two pieces, split anywhere: the state carries over.
		in.write([]byte(src[:len(src)/2]))
		in.write([]byte(src[len(src)/2:]))
		bw.Flush()
		if got.String() != want.String() {
			t.Errorf("indent of %.80s:\ngot  %.300q\nwant %.300q", src, got.String(), want.String())
		}
	}
}
