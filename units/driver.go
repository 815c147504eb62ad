package units

import "database/sql/driver"

var driverBadConn = driver.ErrBadConn
