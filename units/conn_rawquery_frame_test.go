package units

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"slices"
	"testing"

	"github.com/go-sql-driver/mysql"
)

// TestRawQueryFraming plays the server over a pipe for the framings a
// MariaDB or MySQL server, or a proxy, may send that the servers here do
// not: the EOF after the column definitions (no CLIENT_DEPRECATE_EOF),
// MariaDB's metadata skipped, bytes after the column count, a row of
// exactly one full packet followed by the empty one, more results
// announced, an error after a row.
func TestRawQueryFraming(t *testing.T) {
	pkt := func(payload ...[]byte) []byte { return bytes.Join(payload, nil) }
	colDef := []byte("\x03def\x00\x00\x00\x01c\x00\x0c\x3f\x00\x00\x00\x00\x00\xfd\x00\x00\x00\x00\x00")
	eof := []byte{0xfe, 0, 0, 0x02, 0}          // EOF: warnings, status (autocommit)
	ok := []byte{0xfe, 0, 0, 0x02, 0, 0, 0}     // OK with the EOF header (CLIENT_DEPRECATE_EOF)
	okMore := []byte{0xfe, 0, 0, 0x0a, 0, 0, 0} // ... with SERVER_MORE_RESULTS_EXISTS
	row := func(vals ...[]byte) []byte {
		var b []byte
		for _, v := range vals {
			if v == nil {
				b = append(b, 0xfb)
				continue
			}
			b = append(b, byte(len(v)))
			b = append(b, v...)
		}
		return b
	}
	full := make([]byte, maxPacketPayload) // one value filling a whole packet: 0xfd, 3 length bytes, then the bytes
	full[0], full[1], full[2], full[3] = 0xfd, byte(len(full)-4), byte((len(full)-4)>>8), byte((len(full)-4)>>16)
	for i := 4; i < len(full); i++ {
		full[i] = byte(i)
	}
	type want struct {
		rows [][]string
		err  func(error) bool
	}
	str := func(vals ...string) []string { return vals }
	for _, tc := range []struct {
		name    string
		packets [][]byte
		want    want
	}{
		{"eof after the definitions", [][]byte{{2}, colDef, colDef, eof, row([]byte("a"), nil), row([]byte{}, []byte("xyz")), eof},
			want{rows: [][]string{str("a", "NULL"), str("", "xyz")}}},
		{"deprecate eof, metadata follows", [][]byte{{2, 1}, colDef, colDef, row([]byte("a"), []byte("b")), ok},
			want{rows: [][]string{str("a", "b")}}},
		{"metadata skipped", [][]byte{{1, 0}, row([]byte("x")), ok}, want{rows: [][]string{str("x")}}},
		{"metadata skipped, eof", [][]byte{{1, 0}, eof, row([]byte("x")), eof}, want{rows: [][]string{str("x")}}},
		{"bytes after the count", [][]byte{{1, 5, 6}, colDef, row([]byte("x")), ok}, want{rows: [][]string{str("x")}}},
		{"empty result", [][]byte{{1}, colDef, ok}, want{}},
		{"empty result, eof", [][]byte{{1}, colDef, eof, eof}, want{}},
		{"a row of one whole packet", [][]byte{{1}, colDef, full, {}, row([]byte("after")), ok},
			want{rows: [][]string{str("<full>"), str("after")}}},
		{"more results", [][]byte{{1}, colDef, row([]byte("x")), okMore},
			want{rows: [][]string{str("x")}, err: func(err error) bool { return errors.Is(err, errRawProtocol) && errors.Is(err, driverBadConn) }}},
		{"error after a row", [][]byte{{1}, colDef, row([]byte("x")), pkt([]byte{0xff, 0xe2, 0x04}, []byte("#21000boom"))},
			want{rows: [][]string{str("x")}, err: func(err error) bool {
				var me *mysql.MySQLError
				return errors.As(err, &me) && me.Number == 1250 && string(me.SQLState[:]) == "21000" && me.Message == "boom" && !errors.Is(err, driverBadConn)
			}}},
		{"a row short of its columns", [][]byte{{2}, colDef, colDef, row([]byte("x")), ok},
			want{err: func(err error) bool { return errors.Is(err, errRawProtocol) }}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client, server := net.Pipe()
			defer client.Close()
			go func() {
				defer server.Close()
				br := bufio.NewReader(server)
				h := make([]byte, 4)
				if _, err := io.ReadFull(br, h); err != nil {
					return
				}
				q := make([]byte, int(h[0])|int(h[1])<<8|int(h[2])<<16)
				if _, err := io.ReadFull(br, q); err != nil || q[0] != comQuery {
					return
				}
				w := bufio.NewWriter(server)
				for i, p := range tc.packets {
					w.Write([]byte{byte(len(p)), byte(len(p) >> 8), byte(len(p) >> 16), byte(i + 1)})
					w.Write(p)
				}
				w.Flush()
			}()
			bc := &bufferedConn{Conn: client}
			bc.r = bufio.NewReaderSize(socketReader{bc}, readBufBytes)
			rq := &rawQuerier{c: bc}
			var got [][]string
			_, err := rq.query(context.Background(), "SELECT c FROM t WHERE k > ?", []any{"it's"}, func(vals [][]byte) (bool, error) {
				var r []string
				for _, v := range vals {
					switch {
					case v == nil:
						r = append(r, "NULL")
					case len(v) == maxPacketPayload-4:
						if !bytes.Equal(v, full[4:]) {
							t.Error("the value of a whole packet differs")
						}
						r = append(r, "<full>")
					default:
						r = append(r, string(v))
					}
				}
				got = append(got, r)
				return true, nil
			})
			if tc.want.err == nil && err != nil || tc.want.err != nil && !tc.want.err(err) {
				t.Fatalf("error %v", err)
			}
			if len(got) != len(tc.want.rows) {
				t.Fatalf("rows %q, want %q", got, tc.want.rows)
			}
			for i := range got {
				if !slices.Equal(got[i], tc.want.rows[i]) {
					t.Errorf("row %d: %q, want %q", i, got[i], tc.want.rows[i])
				}
			}
		})
	}
}
