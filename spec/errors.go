package spec

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// ErrInvalid is what every ErrorList is (errors.Is): the desired state could
// not be loaded. Callers branch on it to tell bad YAML from other failures.
var ErrInvalid = errors.New("invalid desired state")

// Error is one problem with the desired state, at a place in a file.
type Error struct {
	File string
	Line int // 1-based; 0 when the problem is with the file as a whole
	Col  int // 1-based, in characters; 0 when unknown (most YAML syntax errors)
	Msg  string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteString(":" + strconv.Itoa(e.Line))
		if e.Col > 0 {
			b.WriteString(":" + strconv.Itoa(e.Col))
		}
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	return b.String()
}

// maxShown is how many errors ErrorList.Error prints before summarising.
const maxShown = 10

// ErrorList is every problem found by one Load, sorted by file, line,
// column and message.
type ErrorList []*Error

// Error prints one error a line; after the first ten, it says how many more
// there are, like go/scanner.
func (l ErrorList) Error() string {
	var b strings.Builder
	for i, e := range l {
		if i == maxShown {
			fmt.Fprintf(&b, "\n(and %d more errors)", len(l)-maxShown)
			break
		}
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// Is makes errors.Is(err, ErrInvalid) true for every ErrorList.
func (l ErrorList) Is(target error) bool { return target == ErrInvalid }

// errorSink collects errors during a Load.
type errorSink struct {
	list ErrorList
}

func (s *errorSink) add(file string, at pos, format string, args ...any) {
	s.list = append(s.list, &Error{File: file, Line: at.line, Col: at.col, Msg: fmt.Sprintf(format, args...)})
}

// err returns the sorted, de-duplicated list, or nil when it is empty.
func (s *errorSink) err() error {
	if len(s.list) == 0 {
		return nil
	}
	l := s.list
	sort.SliceStable(l, func(i, j int) bool {
		a, b := l[i], l[j]
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		if a.Col != b.Col {
			return a.Col < b.Col
		}
		return a.Msg < b.Msg
	})
	out := l[:1]
	for _, e := range l[1:] {
		if *e != *out[len(out)-1] {
			out = append(out, e)
		}
	}
	return out
}
