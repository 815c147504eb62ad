package units

import (
	"testing"

	"github.com/go-mysql-org/go-mysql/replication"
)

// TestMySQLGTID: a MySQL GTID event names its transaction as go-mysql's
// GTIDNext writes it; anonymous transactions have none.
func TestMySQLGTID(t *testing.T) {
	sid := []byte{0x3e, 0x11, 0xfa, 0x47, 0x71, 0xca, 0x11, 0xe1, 0x9e, 0x33, 0xc8, 0x0a, 0xa9, 0x42, 0x95, 0x62}
	for _, c := range []struct {
		sid  []byte
		gno  int64
		want string
	}{
		{sid, 23, "3e11fa47-71ca-11e1-9e33-c80aa9429562:23"},
		{sid, 0, ""},
		{make([]byte, 16), 5, ""},
	} {
		if got := mysqlGTID(&replication.GTIDEvent{SID: c.sid, GNO: c.gno}); got != c.want {
			t.Errorf("mysqlGTID(%x, %d) = %q, want %q", c.sid, c.gno, got, c.want)
		}
	}
}
