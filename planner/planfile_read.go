package planner

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/dmplan/dmplan/spec"
)

// Reading a plan file of a first apply at 10,000 sources and 100,000 tasks
// (hundreds of megabytes) is most of that apply's work. So the file is read
// into one buffer of its size, its indentation is removed in place, and the
// plan is decoded on every core: the changes and the desired state's maps
// in chunks of whole elements, put back together in order. The result is
// what json.Unmarshal gives for the same bytes (TestDecodePlanIsUnmarshal).

// readAll reads r to its end, into one buffer of the file's size when r
// is a file (io.ReadAll would grow, and clear, a buffer several times).
func readAll(r io.Reader) ([]byte, error) {
	f, ok := r.(interface{ Stat() (fs.FileInfo, error) })
	if !ok {
		return io.ReadAll(r)
	}
	size := int64(0)
	if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
		size = st.Size()
	}
	data := make([]byte, 0, size+512)
	for {
		n, err := r.Read(data[len(data):cap(data)])
		data = data[:len(data)+n]
		if errors.Is(err, io.EOF) {
			return data, nil
		}
		if err != nil {
			return nil, err
		}
		if len(data) == cap(data) {
			data = append(data, 0)[:len(data)] // grow: the file grew while read
		}
	}
}

// compactInPlace removes the whitespace outside strings from b, in place,
// and returns what is left. For valid JSON that is json.Compact's output;
// invalid JSON stays invalid, and is reported by the decoding that follows.
func compactInPlace(b []byte) []byte {
	w := 0
	for i := 0; i < len(b); {
		switch c := b[i]; c {
		case ' ', '\t', '\n', '\r':
			i++
		case '"':
			// A string, copied whole: most of a plan's bytes.
			e := stringEnd(b, i)
			if e < 0 {
				e = len(b) - 1
			}
			w += copy(b[w:], b[i:e+1])
			i = e + 1
		default:
			b[w] = c
			w++
			i++
		}
	}
	return b[:w]
}

// stringEnd returns the index of the quote that ends the JSON string
// starting at b[i] (a quote), or -1 when it does not end.
func stringEnd(b []byte, i int) int {
	j := i + 1
	for {
		k := bytes.IndexByte(b[j:], '"')
		if k < 0 {
			return -1
		}
		j += k
		escaped := false
		for m := j - 1; m > i && b[m] == '\\'; m-- {
			escaped = !escaped
		}
		if !escaped {
			return j
		}
		j++
	}
}

// decodePlan is json.Unmarshal(b, &p) for the compact JSON of a plan, on
// every core. Anything it does not expect (a field it does not know, a
// field given twice, a value that is not well formed) is left to
// json.Unmarshal, whose error is the answer.
//
// lean decodes of each change its kind, name and action only.
func decodePlan(b []byte, lean bool) (*Plan, error) {
	var p Plan
	fields, ok := objectFields(b)
	if !ok {
		return &p, json.Unmarshal(b, &p)
	}
	d := &chunkDecoder{lean: lean}
	small := make([]byte, 0, 256)
	small = append(small, '{')
	for _, f := range fields {
		switch string(f.key) {
		case "changes":
			if !d.array(f.value, &p.Changes) {
				return &p, json.Unmarshal(b, &p)
			}
			continue
		case "desired":
			if !d.state(f.value, &p.Desired) {
				return &p, json.Unmarshal(b, &p)
			}
			continue
		}
		if len(small) > 1 {
			small = append(small, ',')
		}
		small = append(small, f.raw...)
	}
	small = append(small, '}')
	if err := json.Unmarshal(small, &p); err != nil {
		return &p, err
	}
	if err := d.run(); err != nil {
		return &p, json.Unmarshal(b, &p)
	}
	return &p, nil
}

// field is one key and value of a compact JSON object: raw is both, as
// written ("key":value).
type field struct {
	key, value, raw []byte
}

// objectFields splits a compact JSON object into its fields; ok is false
// when b is not an object of string keys given once each.
func objectFields(b []byte) ([]field, bool) {
	if len(b) < 2 || b[0] != '{' || b[len(b)-1] != '}' {
		return nil, false
	}
	var out []field
	seen := map[string]bool{}
	i := 1
	if b[i] == '}' {
		return nil, i+1 == len(b)
	}
	for {
		start := i
		if i >= len(b) || b[i] != '"' {
			return nil, false
		}
		ke := skipValue(b, i)
		if ke < 0 || ke >= len(b) || b[ke] != ':' {
			return nil, false
		}
		key := b[i+1 : ke-1]
		ve := skipValue(b, ke+1)
		if ve < 0 || ve >= len(b) || seen[string(key)] {
			return nil, false
		}
		seen[string(key)] = true
		out = append(out, field{key: key, value: b[ke+1 : ve], raw: b[start:ve]})
		switch b[ve] {
		case ',':
			i = ve + 1
		case '}':
			return out, ve+1 == len(b)
		default:
			return nil, false
		}
	}
}

// skipValue returns the index after the compact JSON value that starts
// at b[i], or -1 when there is none. It checks only what it must to find
// the end (strings, nesting); json.Unmarshal checks the rest.
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	depth := 0
	for ; i < len(b); i++ {
		switch c := b[i]; c {
		case '"':
			if i = stringEnd(b, i); i < 0 {
				return -1
			}
			if depth == 0 {
				return i + 1
			}
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth < 0 {
				return -1
			}
			if depth == 0 {
				return i + 1
			}
		case ',', ':':
			if depth == 0 {
				return i
			}
		}
	}
	if depth == 0 {
		return i
	}
	return -1
}

// run is a run of n whole elements of a JSON array or object.
type run struct {
	b []byte
	n int
}

// elements splits a compact JSON array or object (b[0] is '[' or '{')
// into runs of whole elements (values, or "key":value) of about
// chunkBytes each; ok is false when it is not well formed.
func elements(b []byte, chunkBytes int) (runs []run, ok bool) {
	if len(b) < 2 {
		return nil, false
	}
	open, close := b[0], b[len(b)-1]
	if !(open == '[' && close == ']' || open == '{' && close == '}') {
		return nil, false
	}
	if len(b) == 2 {
		return nil, true
	}
	start, i, n := 1, 1, 0
	for {
		if open == '{' {
			if b[i] != '"' {
				return nil, false
			}
			ke := skipValue(b, i)
			if ke < 0 || ke >= len(b) || b[ke] != ':' {
				return nil, false
			}
			i = ke + 1
		}
		e := skipValue(b, i)
		if e < 0 || e >= len(b) {
			return nil, false
		}
		n++
		switch {
		case e == len(b)-1:
			return append(runs, run{b[start:e], n}), true
		case b[e] != ',':
			return nil, false
		case e-start >= chunkBytes:
			runs = append(runs, run{b[start:e], n})
			start, n = e+1, 0
		}
		i = e + 1
	}
}

// chunkBytes is about how much JSON one decoding job takes (a variable
// for the tests, which cut plans into many small chunks).
var chunkBytes = 1 << 20

// chunkDecoder collects decoding jobs and runs them on every core.
type chunkDecoder struct {
	lean   bool // changes without their fields and impact lines
	jobs   []func(scratch []byte) ([]byte, error)
	finish []func()
}

// changeHead is what a lean decoding keeps of a change.
type changeHead struct {
	Kind   Kind   `json:"kind"`
	Name   string `json:"name"`
	Action Action `json:"action"`
}

// array queues the decoding of JSON array b into *out; false when b is
// not one (null is decoded at once).
func (d *chunkDecoder) array(b []byte, out *[]Change) bool {
	if string(b) == "null" {
		*out = nil
		return true
	}
	runs, ok := elements(b, chunkBytes)
	if !ok || b[0] != '[' {
		return false
	}
	parts := make([][]Change, len(runs))
	for i, r := range runs {
		d.jobs = append(d.jobs, func(scratch []byte) ([]byte, error) {
			scratch = append(append(append(scratch[:0], '['), r.b...), ']')
			if d.lean {
				heads := make([]changeHead, 0, r.n)
				if err := json.Unmarshal(scratch, &heads); err != nil {
					return scratch, err
				}
				parts[i] = make([]Change, len(heads))
				for k, h := range heads {
					parts[i][k] = Change{Kind: h.Kind, Name: h.Name, Action: h.Action}
				}
				return scratch, nil
			}
			parts[i] = make([]Change, 0, r.n) // json.Unmarshal fills it without growing it
			return scratch, json.Unmarshal(scratch, &parts[i])
		})
	}
	d.finish = append(d.finish, func() {
		n := 0
		for _, p := range parts {
			n += len(p)
		}
		all := make([]Change, 0, n)
		for _, p := range parts {
			all = append(all, p...)
		}
		*out = all
	})
	return true
}

// state queues the decoding of a State's JSON into *st.
func (d *chunkDecoder) state(b []byte, st *State) bool {
	if string(b) == "null" {
		return true
	}
	fields, ok := objectFields(b)
	if !ok {
		return false
	}
	for _, f := range fields {
		var ok bool
		switch string(f.key) {
		case "sources":
			ok = queueMap(d, f.value, &st.Sources)
		case "tasks":
			ok = queueMap(d, f.value, &st.Tasks)
		case "bounds":
			ok = queueMap(d, f.value, &st.Bounds)
		}
		if !ok {
			return false
		}
	}
	return true
}

// queueMap queues the decoding of JSON object b into *out, in chunks
// merged in order (a key given twice keeps its last value, as with
// json.Unmarshal).
func queueMap[V spec.Source | spec.Task | string](d *chunkDecoder, b []byte, out *map[string]V) bool {
	if string(b) == "null" {
		*out = nil
		return true
	}
	runs, ok := elements(b, chunkBytes)
	if !ok || b[0] != '{' {
		return false
	}
	parts := make([]map[string]V, len(runs))
	for i, r := range runs {
		d.jobs = append(d.jobs, func(scratch []byte) ([]byte, error) {
			parts[i] = make(map[string]V, r.n)
			scratch = append(append(append(scratch[:0], '{'), r.b...), '}')
			return scratch, json.Unmarshal(scratch, &parts[i])
		})
	}
	d.finish = append(d.finish, func() {
		n := 0
		for _, p := range parts {
			n += len(p)
		}
		all := make(map[string]V, n)
		for _, p := range parts {
			for k, v := range p {
				all[k] = v
			}
		}
		*out = all
	})
	return true
}

// run runs the jobs, on as many goroutines as there are cores, then puts
// the parts together.
func (d *chunkDecoder) run() error {
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, len(d.jobs))
	for range min(runtime.GOMAXPROCS(0), len(d.jobs)) {
		wg.Go(func() {
			var scratch []byte
			for {
				i := int(next.Add(1) - 1)
				if i >= len(d.jobs) {
					return
				}
				scratch, errs[i] = d.jobs[i](scratch)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	for _, f := range d.finish {
		f()
	}
	return nil
}
