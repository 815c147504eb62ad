package planner

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
)

// A first plan of 100,000 tasks is hundreds of megabytes of canonical
// JSON. json.Marshal would build it in one buffer grown (and cleared) by
// doubling; streamBody writes the same bytes in pieces, one change or one
// object at a time, so that WriteFile hashes and indents them as they are
// made and the plan is never held as JSON at all.

// streamBody calls emit with the bytes of json.Marshal(p), in order, in
// pieces (each valid only until emit returns).
// TestStreamBodyIsMarshal checks it byte for byte.
func streamBody(p *Plan, emit func([]byte)) {
	// The plan's own fields, whatever they are, as json.Marshal writes
	// them, with the two large ones empty: their values are written in
	// their place.
	q := *p
	q.Changes, q.Desired = nil, State{}
	frame, err := json.Marshal(&q)
	if err != nil {
		panic(fmt.Sprintf("planner: encode plan: %v", err)) // strings, ints and slices of them only
	}
	const changesNull, desiredEmpty = `"changes":null`, `"desired":{"sources":null,"tasks":null,"bounds":null}`
	i := bytes.Index(frame, []byte(changesNull))
	j := bytes.Index(frame, []byte(desiredEmpty))
	if i < 0 || j < i {
		panic("planner: the plan's JSON has no changes and desired state where streamBody expects them")
	}
	e := &pieceEncoder{emit: emit}
	e.enc = json.NewEncoder(&e.buf)
	emit(frame[:i+len(`"changes":`)])
	if p.Changes == nil {
		emit([]byte("null"))
	} else {
		emit([]byte("["))
		for k := range p.Changes {
			if k > 0 {
				emit([]byte(","))
			}
			e.value(&p.Changes[k])
		}
		emit([]byte("]"))
	}
	emit(frame[i+len(changesNull) : j+len(`"desired":`)])
	emit([]byte(`{"sources":`))
	streamMap(e, p.Desired.Sources)
	emit([]byte(`,"tasks":`))
	streamMap(e, p.Desired.Tasks)
	emit([]byte(`,"bounds":`))
	streamMap(e, p.Desired.Bounds)
	emit([]byte("}"))
	emit(frame[j+len(desiredEmpty):])
}

// pieceEncoder encodes one value at a time as json.Marshal does (an
// Encoder escapes HTML as Marshal does; its newline is dropped).
type pieceEncoder struct {
	buf  bytes.Buffer
	enc  *json.Encoder
	emit func([]byte)
}

func (e *pieceEncoder) value(v any) {
	e.buf.Reset()
	if err := e.enc.Encode(v); err != nil {
		panic(fmt.Sprintf("planner: encode plan: %v", err))
	}
	e.emit(bytes.TrimSuffix(e.buf.Bytes(), []byte("\n")))
}

// streamMap writes a map as json.Marshal does: null when nil, else its
// keys sorted.
func streamMap[V any](e *pieceEncoder, m map[string]V) {
	if m == nil {
		e.emit([]byte("null"))
		return
	}
	e.emit([]byte("{"))
	for k, key := range slices.Sorted(maps.Keys(m)) {
		if k > 0 {
			e.emit([]byte(","))
		}
		e.value(key)
		e.emit([]byte(":"))
		e.value(m[key]) // a map value, not addressable, as json.Marshal sees it
	}
	e.emit([]byte("}"))
}
