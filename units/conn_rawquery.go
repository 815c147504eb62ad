package units

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-sql-driver/mysql"
)

// rawQuerier runs a dump connection's chunk queries itself, in the text
// protocol, on the connection go-sql-driver opened: the driver would box
// every value of every row into a driver.Value and parse integers into
// int64s that the reader then prints again (a fifth of the agent's CPU in
// a copy). It writes the COM_QUERY packet and reads the result set from
// the connection's read buffer while the driver is idle between two of
// its own commands (inside sql.Conn.Raw), and leaves the connection as
// the driver expects it: every packet of the result read, nothing
// buffered. Only for connections without TLS (rawReads), where the bytes
// on the socket are the protocol's.
type rawQuerier struct {
	c *bufferedConn
	// noBackslash: the session's sql_mode has NO_BACKSLASH_ESCAPES, so a
	// quote inside a literal is doubled instead of escaped (as the driver
	// interpolates)
	noBackslash bool
	big         []byte // a packet larger than the read buffer, or one sent in pieces
	out         []byte // the query packet
}

// rawConns records, for a pool whose connector makes them, the buffered
// connection under each driver connection (tlsConnector.Connect), so that
// a reader finds the one under its snapshot connection, dialled for it or
// not. Entries stay until the pool goes (a handful per copy).
type rawConns struct{ m sync.Map }

// querier returns the rawQuerier of c's driver connection, nil when the
// pool did not record it.
func (rc *rawConns) querier(ctx context.Context, c *sql.Conn) (*rawQuerier, error) {
	if rc == nil {
		return nil, nil
	}
	var bc *bufferedConn
	if err := c.Raw(func(dc any) error {
		if v, ok := rc.m.Load(dc); ok {
			bc = v.(*bufferedConn)
		}
		return nil
	}); err != nil || bc == nil {
		return nil, err
	}
	var mode string
	if err := c.QueryRowContext(ctx, "SELECT @@SESSION.sql_mode").Scan(&mode); err != nil {
		return nil, fmt.Errorf("read sql_mode: %w", err)
	}
	return &rawQuerier{c: bc, noBackslash: strings.Contains(strings.ToUpper(mode), "NO_BACKSLASH_ESCAPES")}, nil
}

// rawSlotKey marks a dial context whose connection the connector records;
// dialBuffered stores the connection in the slot.
type rawSlotKey struct{}

type rawSlot struct{ c *bufferedConn }

func withRawSlot(ctx context.Context) (context.Context, *rawSlot) {
	s := &rawSlot{}
	return context.WithValue(ctx, rawSlotKey{}, s), s
}

// errRawBroken marks a connection a raw query left in an unknown state:
// sql.Conn.Raw then closes it (driver.ErrBadConn), and the error is
// transient.
func errRawBroken(err error) error { return errors.Join(err, driverBadConn) }

// errRawProtocol is a result the raw reader does not understand: it would
// not understand it on the next attempt either, which reads through the
// driver instead (dumper.rawOff).
var errRawProtocol = errors.New("raw query: unexpected result")

func errProtocol(format string, a ...any) error {
	return errRawBroken(fmt.Errorf("%w: "+format, append([]any{errRawProtocol}, a...)...))
}

// Packet and protocol constants (MySQL client/server protocol).
const (
	maxPacketPayload  = 1<<24 - 1
	comQuery          = 0x03
	statusMoreResults = 0x0008
)

// query runs q with args interpolated (strings and byte strings, as the
// driver does) and calls row with each row's values (nil for NULL), valid
// until row returns, until row returns false or an error. ok is false when
// q cannot go raw (an argument of another type, a query too long for one
// packet): nothing was sent, and the caller runs it through the driver.
func (r *rawQuerier) query(ctx context.Context, q string, args []any, row func(vals [][]byte) (bool, error)) (ok bool, err error) {
	text, ok := r.interpolate(q, args)
	if !ok || len(text)+1 > maxPacketPayload {
		return false, nil
	}
	if err := ctx.Err(); err != nil {
		return true, err
	}
	if cap(r.big) > 16<<20 {
		r.big = nil // a huge row's buffer is not kept for the rest of the dump
	}
	// Every read of the socket while the query runs renews the read
	// deadline (a streamed table's query may rightly last hours); a
	// cancelled context ends the read at once, and the connection is then
	// given up (errRawBroken).
	r.c.stopped.Store(false)
	r.c.raw.Store(true)
	stop := context.AfterFunc(ctx, func() {
		r.c.stopped.Store(true)
		r.c.Conn.SetReadDeadline(time.Unix(1, 0))
	})
	defer func() {
		if !stop() && err != nil {
			err = errRawBroken(fmt.Errorf("%w (%w)", ctx.Err(), err))
		}
		r.c.raw.Store(false)
		r.c.Conn.SetDeadline(time.Time{}) // the driver sets its own per read and write
	}()
	r.out = append(r.out[:0], 0, 0, 0, 0, comQuery)
	r.out = append(r.out, text...)
	n := len(r.out) - 4
	r.out[0], r.out[1], r.out[2], r.out[3] = byte(n), byte(n>>8), byte(n>>16), 0
	r.c.Conn.SetWriteDeadline(time.Now().Add(netWriteTimeout))
	if _, err := r.c.Conn.Write(r.out); err != nil {
		return true, errRawBroken(fmt.Errorf("send query: %w", err))
	}
	p, err := r.packet()
	if err != nil {
		return true, err
	}
	switch p[0] {
	case 0xff:
		return true, errPacket(p)
	case 0x00, 0xfb:
		return true, errProtocol("a result set was expected, the server sent a packet of type %#x", p[0])
	}
	cols, w := lenencInt(p)
	if w == 0 || cols == 0 || cols > 4096 {
		return true, errProtocol("malformed column count")
	}
	// Bytes after the count are ignored, as the driver does (proxies add
	// some), but for MariaDB's metadata cache (which go-sql-driver asks
	// for): a 0 there says no column definitions follow.
	meta := len(p) == w || p[w] != 0
	for i := uint64(0); meta && i < cols; i++ { // the column definitions: the values are the server's text whatever the type
		if _, err := r.packet(); err != nil {
			return true, err
		}
	}
	vals := make([][]byte, cols)
	first, more := true, true
	for {
		p, err := r.packet()
		if err != nil {
			return true, err
		}
		if p[0] == 0xfe && len(p) < maxPacketPayload {
			// Without CLIENT_DEPRECATE_EOF an EOF packet (5 bytes) ends
			// the column definitions; with it, an OK packet (at least 7
			// bytes) ends the rows, as an EOF does without it.
			if first && len(p) == 5 {
				first = false
				continue
			}
			if terminatorStatus(p)&statusMoreResults != 0 {
				return true, errProtocol("the server announced more results")
			}
			return true, nil
		}
		first = false
		if p[0] == 0xff {
			return true, errPacket(p) // the rest of the result is not sent
		}
		if !more {
			continue // the caller stopped: the rest is read and dropped
		}
		if err := parseRow(p, vals); err != nil {
			return true, errProtocol("%v", err)
		}
		if more, err = row(vals); err != nil {
			// The rest of the result must still be read for the
			// connection to stay usable; give it up instead.
			return true, errRawBroken(err)
		}
	}
}

// packet reads one packet's payload: a slice of the read buffer when it
// fits there, valid until the next read, else assembled in r.big.
func (r *rawQuerier) packet() ([]byte, error) {
	var whole []byte
	for {
		h, err := r.c.r.Peek(4)
		if err != nil {
			return nil, errRawBroken(fmt.Errorf("read result: %w", err))
		}
		n := int(h[0]) | int(h[1])<<8 | int(h[2])<<16
		r.c.r.Discard(4)
		var p []byte
		if n <= r.c.r.Size() && whole == nil && n < maxPacketPayload {
			if p, err = r.c.r.Peek(n); err != nil {
				return nil, errRawBroken(fmt.Errorf("read result: %w", err))
			}
			r.c.r.Discard(n)
			if n == 0 {
				return nil, errProtocol("an empty packet")
			}
			return p, nil
		}
		if whole == nil {
			whole = r.big[:0]
		}
		start := len(whole)
		whole = slices.Grow(whole, n)[:start+n]
		if _, err := io.ReadFull(r.c.r, whole[start:]); err != nil {
			return nil, errRawBroken(fmt.Errorf("read result: %w", err))
		}
		if n < maxPacketPayload { // a payload of 2^24-1 bytes goes on in the next packet
			r.big = whole[:0]
			if len(whole) == 0 {
				return nil, errProtocol("an empty packet")
			}
			return whole, nil
		}
	}
}

// parseRow splits a text-protocol row into vals: length-encoded strings,
// 0xfb for NULL.
func parseRow(p []byte, vals [][]byte) error {
	for i := range vals {
		if len(p) == 0 {
			return errors.New("raw query: a row with fewer values than columns")
		}
		if p[0] == 0xfb {
			vals[i], p = nil, p[1:]
			continue
		}
		n, w := lenencInt(p)
		if w == 0 || uint64(len(p)-w) < n {
			return errors.New("raw query: a value longer than its row")
		}
		end := w + int(n)
		vals[i], p = p[w:end:end], p[end:]
	}
	if len(p) != 0 {
		return errors.New("raw query: a row with more values than columns")
	}
	return nil
}

// lenencInt reads a length-encoded integer; w is 0 when p is too short.
func lenencInt(p []byte) (v uint64, w int) {
	if len(p) == 0 {
		return 0, 0
	}
	switch p[0] {
	case 0xfc:
		if len(p) >= 3 {
			return uint64(binary.LittleEndian.Uint16(p[1:])), 3
		}
	case 0xfd:
		if len(p) >= 4 {
			return uint64(p[1]) | uint64(p[2])<<8 | uint64(p[3])<<16, 4
		}
	case 0xfe:
		if len(p) >= 9 {
			return binary.LittleEndian.Uint64(p[1:]), 9
		}
	case 0xfb, 0xff:
	default:
		return uint64(p[0]), 1
	}
	return 0, 0
}

// terminatorStatus is the status flags of an EOF packet (0xfe, warnings,
// status) or of an OK packet with the 0xfe header (affected rows and last
// insert id as length-encoded integers, then status).
func terminatorStatus(p []byte) uint16 {
	if len(p) == 5 {
		return binary.LittleEndian.Uint16(p[3:])
	}
	_, w1 := lenencInt(p[1:])
	if w1 == 0 {
		return 0
	}
	_, w2 := lenencInt(p[1+w1:])
	if w2 == 0 || len(p) < 1+w1+w2+2 {
		return 0
	}
	return binary.LittleEndian.Uint16(p[1+w1+w2:])
}

// errPacket turns an error packet into the driver's error type, so that
// isTransient and retryable see the server's error number.
func errPacket(p []byte) error {
	e := &mysql.MySQLError{Message: "malformed error packet"}
	if len(p) >= 3 {
		e.Number = binary.LittleEndian.Uint16(p[1:3])
		msg := p[3:]
		if len(msg) >= 6 && msg[0] == '#' {
			copy(e.SQLState[:], msg[1:6])
			msg = msg[6:]
		}
		e.Message = string(msg)
	}
	return e
}

// interpolate replaces each ? outside backquotes in q with args' literals,
// as go-sql-driver's interpolateParams does for strings ('…') and byte
// strings (_binary'…'): backslash escapes, or doubled quotes under
// NO_BACKSLASH_ESCAPES. ok is false for an argument of another type or a
// count that does not match.
func (r *rawQuerier) interpolate(q string, args []any) (string, bool) {
	if len(args) == 0 {
		return q, true
	}
	var b []byte
	quoted := false
	for i := 0; i < len(q); i++ {
		ch := q[i]
		switch {
		case ch == '`':
			quoted = !quoted // a doubled backquote inside toggles twice
		case ch == '?' && !quoted:
			if len(args) == 0 {
				return "", false
			}
			switch v := args[0].(type) {
			case nil:
				b = append(b, "NULL"...)
			case string:
				b = r.appendLiteral(append(b, '\''), []byte(v))
			case []byte:
				if v == nil {
					b = append(b, "NULL"...)
					break
				}
				b = r.appendLiteral(append(b, "_binary'"...), v)
			default:
				return "", false
			}
			args = args[1:]
			continue
		}
		b = append(b, ch)
	}
	if len(args) != 0 {
		return "", false
	}
	return string(b), true
}

func (r *rawQuerier) appendLiteral(b, v []byte) []byte {
	if r.noBackslash {
		return append(append(b, strings.ReplaceAll(string(v), "'", "''")...), '\'')
	}
	return append(appendEscapes(b, v, &sqlEscapes), '\'')
}

// rawReads reports whether the dump's source connections can be read
// below the driver: not through TLS, which the driver layers above the
// connection the dialer returns.
func rawReads(ep Endpoint) bool {
	return ep.TLS.Mode == "" || ep.TLS.Mode == TLSDisabled
}
