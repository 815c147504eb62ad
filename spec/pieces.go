package spec

import (
	"bytes"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"unicode/utf8"
)

// Parsing YAML is most of the cost of a Load, so the files are parsed in
// parallel, and a large file is cut into pieces of whole documents that are
// parsed in parallel too. The results are put back together in file and
// document order, so a Load gives the same Set and errors whatever the
// number of cores.

// piece is a run of whole documents of one file.
type piece struct {
	file string
	data []byte
	rest []byte // data and the rest of the file after it
	line int    // lines of the file before the piece
}

// pieceBytes is about how large the pieces of a large file are.
const pieceBytes = 64 << 10

// readPieces reads files and cuts them into pieces, in order. Problems are
// added to errs.
func readPieces(files []string, errs *errorSink) []piece {
	var out []piece
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			errs.add(file, pos{}, "cannot read: %v", pathErrorReason(err))
			continue
		}
		out = append(out, splitDocuments(file, data, pieceBytes)...)
	}
	return out
}

// splitDocuments cuts data before lines that start a document ("---" at
// the start of a line, then a space or the end of the line, which YAML
// allows only as a document marker) into pieces of about size bytes; files
// under 2*size are not cut. Nor are files that could read differently once
// cut (FuzzSplit checks that the others do not): those with
// anchors (yaml.v3 lets an alias refer to an anchor of an earlier
// document), directives (%YAML, %TAG, which belong to the next document),
// line breaks other than LF (which the line count below would miss), or
// bytes YAML does not allow (yaml.v3 reads ahead, so such a byte can fail
// documents before the one that holds it).
func splitDocuments(file string, data []byte, size int) []piece {
	whole := []piece{{file: file, data: data, rest: data}}
	if len(data) < 2*size || bytes.IndexByte(data, '&') >= 0 || data[0] == '%' || bytes.Contains(data, []byte("\n%")) ||
		bytes.Contains(data, []byte("\u0085")) || bytes.Contains(data, []byte("\u2028")) || bytes.Contains(data, []byte("\u2029")) ||
		hasBadBytes(data) {
		return whole
	}
	var out []piece
	start, startLine, line := 0, 0, 0
	for i := 0; i < len(data); {
		nl := bytes.IndexByte(data[i:], '\n')
		if nl < 0 {
			break
		}
		i += nl + 1
		line++
		if i-start >= size && isDocumentStart(data[i:]) {
			out = append(out, piece{file: file, data: data[start:i], rest: data[start:], line: startLine})
			start, startLine = i, line
		}
	}
	return append(out, piece{file: file, data: data[start:], rest: data[start:], line: startLine})
}

// isDocumentStart reports whether b starts with a document marker.
func isDocumentStart(b []byte) bool {
	return bytes.HasPrefix(b, []byte("---")) && (len(b) == 3 || b[3] == ' ' || b[3] == '\t' || b[3] == '\n')
}

// pieceResult is what one piece declares and the problems found in it.
type pieceResult struct {
	objects []decl
	errs    ErrorList
	failed  bool // a syntax error ended the reading of the file
	last    bool // the result is for the rest of the file
}

// decodePieces parses and decodes the pieces, in parallel. A syntax error
// can read differently in a piece than in the whole file: a quoted string
// that runs past a "---" line ends differently, and yaml.v3 reads a token
// or two ahead, so an error at the start of a document can keep the one
// before from being read. So when a piece has a syntax error, the file is
// read again as one piece from the piece before it to the end.
func decodePieces(pieces []piece, secrets *secrets) []pieceResult {
	out := decodeParallel(pieces, secrets)
	for i := 0; i < len(pieces); i++ {
		p := pieces[i]
		hasPrev := i > 0 && pieces[i-1].file == p.file
		if !out[i].failed || !hasPrev && len(p.rest) == len(p.data) {
			continue // no syntax error, or the file is one piece
		}
		if hasPrev {
			i--
			p = pieces[i]
		}
		out[i] = decodePiece(piece{file: p.file, data: p.rest, rest: p.rest, line: p.line}, secrets, &nodeArena{})
		for i+1 < len(pieces) && pieces[i+1].file == p.file {
			i++ // read already
		}
	}
	return out
}

func decodeParallel(pieces []piece, secrets *secrets) []pieceResult {
	out := make([]pieceResult, len(pieces))
	workers := min(runtime.GOMAXPROCS(0), len(pieces))
	if workers <= 1 {
		a := &nodeArena{}
		for i, p := range pieces {
			out[i] = decodePiece(p, secrets, a)
			a.reset()
		}
		return out
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			a := &nodeArena{} // one per worker, reused for each piece
			for {
				i := int(next.Add(1) - 1)
				if i >= len(pieces) {
					return
				}
				out[i] = decodePiece(pieces[i], secrets, a)
				a.reset()
			}
		})
	}
	wg.Wait()
	return out
}

// decodePiece parses the documents of one piece, with nodes from a, and
// decodes them; the result keeps no node, so a can be reset after.
func decodePiece(p piece, secrets *secrets, a *nodeArena) pieceResult {
	errs := &errorSink{}
	docs, serr := parseDocuments(p.data, a)
	if serr != nil {
		errs.add(p.file, pos{serr.at.line + p.line, serr.at.col}, "YAML syntax error: %s%s", serr.msg, quoteHint(p.data, serr.at.line))
	}
	d := &decoder{file: p.file, line: p.line, errs: errs, secrets: secrets}
	objects := make([]decl, 0, len(docs))
	for _, root := range docs {
		if obj, ok := d.document(root); ok {
			objects = append(objects, obj)
		}
	}
	return pieceResult{objects: objects, errs: errs.list, failed: serr != nil, last: serr != nil || len(p.rest) == len(p.data)}
}

// hasBadBytes reports whether data is not UTF-8 or holds a character YAML
// does not allow, or a CR.
func hasBadBytes(data []byte) bool {
	if !utf8.Valid(data) {
		return true
	}
	for i, c := range data {
		switch {
		case c < 0x20 && c != '\t' && c != '\n', c == 0x7f:
			return true
		case c == 0xc2 && i+1 < len(data) && data[i+1] >= 0x80 && data[i+1] < 0xa0 && data[i+1] != 0x85:
			return true // C1 control characters
		case c == 0xef && i+2 < len(data) && data[i+1] == 0xbf && data[i+2] >= 0xbe:
			return true // U+FFFE, U+FFFF
		}
	}
	return false
}
