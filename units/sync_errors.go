package units

import (
	"errors"
	"fmt"

	gomysql "github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-sql-driver/mysql"
)

// errno returns the server error number carried by err (from either
// driver), or 0.
func errno(err error) uint16 {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number
	}
	var ge *gomysql.MyError
	if errors.As(err, &ge) {
		return ge.Code
	}
	return 0
}

// streamError classifies an error of the binlog stream at p: permanent
// (with what to do) or worth retrying (connection lost, source restarting).
func streamError(err error, p Position, serverID uint32) error {
	switch errno(err) {
	case 1236: // ER_MASTER_FATAL_ERROR_READING_BINLOG: purged, or a GTID the source does not have
		return Permanent(fmt.Errorf("read binlog at %s: %w: the source no longer has (or never had) the binlog at the sync checkpoint; "+
			"keep binlogs longer (expire_logs_days / binlog_expire_logs_seconds) and restart the task from a fresh dump (mode all), "+
			"or give an incremental start position the source still has", describePos(p), err))
	case 4052: // ER_SLAVE_SAME_ID (MariaDB): another reader registered with our server_id
		return Permanent(fmt.Errorf("read binlog at %s: %w: another binlog reader uses server_id %d; give each subtask a unique server id", describePos(p), err, serverID))
	case 1045, 1044, 1227, 1142, 1143: // access denied, missing privileges
		return Permanent(fmt.Errorf("read binlog at %s: %w: grant the source user REPLICATION SLAVE and BINLOG MONITOR (REPLICATION CLIENT on MySQL)", describePos(p), err))
	}
	return fmt.Errorf("read binlog at %s: %w", describePos(p), err)
}
