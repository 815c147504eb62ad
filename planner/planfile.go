package planner

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// Errors ReadFile returns, for callers to branch on with errors.Is.
var (
	// ErrPlanVersion: the file was written by a dmplan with another
	// plan format version.
	ErrPlanVersion = errors.New("unsupported plan file format version")
	// ErrPlanCorrupt: the file is not a plan file, or its content does not
	// match its digest (edited or damaged since it was written).
	ErrPlanCorrupt = errors.New("plan file is corrupt or was modified")
)

// planFile is the saved form of a Plan: the plan itself and the SHA-256 of
// its canonical JSON, so that a changed byte is noticed before apply.
type planFile struct {
	FormatVersion int             `json:"formatVersion"`
	Digest        string          `json:"digest"`
	Plan          json.RawMessage `json:"plan"`
}

// Digest is "sha256:" and the hex SHA-256 of the plan's canonical JSON. Two
// plans with the same digest apply the same changes to the same base
// revision; apply history records it.
func (p *Plan) Digest() string {
	h := sha256.New()
	streamBody(p, func(b []byte) { h.Write(b) })
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// WriteFile saves a plan for `dmplan apply FILE`. The file holds secret
// references and marks (SealSecrets), never a password or a digest: it
// refuses a plan whose passwords are not sealed.
//
// The envelope is written around the canonical body, indented as it
// streams to w: what json.Encoder with SetIndent would write for
// planFile, without ever holding a body that can be hundreds of megabytes
// (a first plan of 100,000 tasks). The digest comes before the body: a
// file (an io.WriterAt that can tell its offset) gets a placeholder,
// written over once the body is hashed; any other writer gets the body
// encoded twice, once to hash it and once to write it.
func WriteFile(w io.Writer, p *Plan) error {
	if what := sealedOnly(p.Desired); what != "" {
		return fmt.Errorf("write plan file: the password of %s holds a digest: seal the plan first (planner.SealSecrets)", what)
	}
	var start int64 = -1
	f, seekable := w.(interface {
		io.WriterAt
		io.Seeker
	})
	if seekable {
		if off, err := f.Seek(0, io.SeekCurrent); err == nil {
			start = off
		}
	}
	digest := make([]byte, sha256.Size)
	if start < 0 {
		h := sha256.New()
		streamBody(p, func(b []byte) { h.Write(b) })
		digest = h.Sum(nil)
	}
	head := fmt.Sprintf(`{"formatVersion":%d,"digest":"sha256:%s","plan":`, FormatVersion, hex.EncodeToString(digest))
	var headIndented bytes.Buffer
	hw := bufio.NewWriter(&headIndented)
	(&indenter{w: hw}).write([]byte(head))
	hw.Flush()
	at := int64(bytes.Index(headIndented.Bytes(), []byte(`"sha256:`)) + len(`"sha256:`))

	bw := bufio.NewWriterSize(w, 1<<20)
	in := indenter{w: bw}
	in.write([]byte(head))
	h := sha256.New()
	streamBody(p, func(b []byte) {
		if start >= 0 {
			h.Write(b)
		}
		in.write(b)
	})
	in.write([]byte("}"))
	bw.WriteByte('\n')
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write plan file: %w", err)
	}
	if start >= 0 {
		if _, err := f.WriteAt([]byte(hex.EncodeToString(h.Sum(nil))), start+at); err != nil {
			return fmt.Errorf("write plan file: %w", err)
		}
	}
	return nil
}

// indenter writes compact JSON (as json.Marshal writes it) indented as
// json.Indent(dst, src, "", "  ") would, as it streams by, so that a
// plan file of hundreds of megabytes is never held twice. Write errors
// stay in the bufio.Writer, which reports them at Flush.
type indenter struct {
	w          *bufio.Writer
	depth      int
	inString   bool
	escaped    bool // the previous byte in a string was a backslash
	needIndent bool // after { or [: a newline, unless the value is empty
}

func (in *indenter) newline(depth int) {
	in.w.WriteByte('\n')
	for range depth {
		in.w.WriteString("  ")
	}
}

func (in *indenter) write(src []byte) {
	for _, c := range src {
		if in.inString {
			in.w.WriteByte(c)
			switch {
			case in.escaped:
				in.escaped = false
			case c == '\\':
				in.escaped = true
			case c == '"':
				in.inString = false
			}
			continue
		}
		if in.needIndent && c != ']' && c != '}' {
			in.needIndent = false
			in.newline(in.depth)
		}
		switch c {
		case '"':
			in.inString = true
			in.w.WriteByte(c)
		case '{', '[':
			in.w.WriteByte(c)
			in.depth++
			in.needIndent = true
		case ',':
			in.w.WriteByte(c)
			in.newline(in.depth)
		case ':':
			in.w.WriteString(": ")
		case '}', ']':
			in.depth--
			if in.needIndent {
				in.needIndent = false // an empty object or array stays {} or []
			} else {
				in.newline(in.depth)
			}
			in.w.WriteByte(c)
		default:
			in.w.WriteByte(c)
		}
	}
}

// ReadFile reads a plan saved by WriteFile. It refuses a file of another
// format version (ErrPlanVersion) and one whose content does not match its
// digest or has unknown fields (ErrPlanCorrupt).
func ReadFile(r io.Reader) (*Plan, error) {
	p, _, err := ReadFileDigest(r)
	return p, err
}

// ReadFileDigest is ReadFile that also returns the plan's digest (what
// Digest returns for it), without encoding the plan again when the file
// holds it as written.
func ReadFileDigest(r io.Reader) (*Plan, string, error) {
	return readFile(r, false)
}

// ReadFileToApply is ReadFileDigest for apply, which uses of each change
// only its kind, name and action (to count them): a plan file as WriteFile
// wrote it is read without the changes' fields and impact lines, most of
// a large plan's memory and decoding. The digest is checked over the
// whole file all the same. Do not render the plan it returns.
func ReadFileToApply(r io.Reader) (*Plan, string, error) {
	return readFile(r, true)
}

// readFile reads a plan file; lean leaves out the changes' fields and
// impact lines when it can.
func readFile(r io.Reader, lean bool) (*Plan, string, error) {
	data, err := readAll(r)
	if err != nil {
		return nil, "", fmt.Errorf("read plan file: %w", err)
	}
	// Without its indentation, a file as WriteFile wrote it is the
	// envelope around, byte for byte, the canonical JSON that was hashed:
	// then the plan is decoded from those bytes once, with no further
	// copy (a plan of 100,000 tasks is hundreds of megabytes). A file
	// re-encoded by another tool (other escapes, other key order) takes
	// the general path: decode, encode again, compare.
	body := compactInPlace(data)
	if digest, plan, ok := envelope(body); ok {
		sum := sha256.Sum256(plan)
		if "sha256:"+hex.EncodeToString(sum[:]) == digest {
			// What json.Marshal wrote for a Plan holds no unknown field.
			p, err := decodePlan(plan, lean)
			if err != nil {
				return nil, "", fmt.Errorf("read plan file: %w: %v", ErrPlanCorrupt, err)
			}
			return checkRead(p, digest, FormatVersion)
		}
	}
	var f planFile
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, "", fmt.Errorf("read plan file: %w: %v", ErrPlanCorrupt, err)
	}
	if dec.InputOffset() != int64(len(body)) {
		return nil, "", fmt.Errorf("read plan file: %w: data after the plan", ErrPlanCorrupt)
	}
	if f.FormatVersion != FormatVersion {
		return nil, "", fmt.Errorf("read plan file: %w: it has version %d, this dmplan reads %d",
			ErrPlanVersion, f.FormatVersion, FormatVersion)
	}
	if len(f.Plan) == 0 || f.Digest == "" {
		return nil, "", fmt.Errorf("read plan file: %w: no plan or no digest", ErrPlanCorrupt)
	}
	var p Plan
	pdec := json.NewDecoder(bytes.NewReader(f.Plan))
	pdec.DisallowUnknownFields()
	if err := pdec.Decode(&p); err != nil {
		return nil, "", fmt.Errorf("read plan file: %w: %v", ErrPlanCorrupt, err)
	}
	if p.FormatVersion == FormatVersion {
		if got := p.Digest(); got != f.Digest {
			return nil, "", fmt.Errorf("read plan file: %w: digest is %s, the file says %s", ErrPlanCorrupt, got, f.Digest)
		}
	}
	return checkRead(&p, f.Digest, f.FormatVersion)
}

// envelope splits a compact plan file as WriteFile writes it into its
// digest and its plan; ok is false for any other shape.
func envelope(body []byte) (digest string, plan []byte, ok bool) {
	head := fmt.Sprintf(`{"formatVersion":%d,"digest":"`, FormatVersion)
	rest, found := bytes.CutPrefix(body, []byte(head))
	if !found {
		return "", nil, false
	}
	d, rest, found := bytes.Cut(rest, []byte(`","plan":`))
	if !found || bytes.IndexByte(d, '"') >= 0 || bytes.IndexByte(d, '\\') >= 0 {
		return "", nil, false
	}
	plan, found = bytes.CutSuffix(rest, []byte("}"))
	if !found || len(plan) == 0 {
		return "", nil, false
	}
	return string(d), plan, true
}

// checkRead finishes reading a plan whose digest was checked: the
// versions agree, and it holds no digest.
func checkRead(p *Plan, digest string, fileVersion int) (*Plan, string, error) {
	if p.FormatVersion != FormatVersion {
		return nil, "", fmt.Errorf("read plan file: %w: the plan says version %d, the file %d",
			ErrPlanCorrupt, p.FormatVersion, fileVersion)
	}
	if what := sealedOnly(p.Desired); what != "" {
		return nil, "", fmt.Errorf("read plan file: %w: the password of %s holds a digest, as plan files written before dmplan sealed them did: make the plan again", ErrPlanVersion, what)
	}
	return p, digest, nil
}
