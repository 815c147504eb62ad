//go:build !linux

package units

import "time"

// setUserTimeout: TCP_USER_TIMEOUT is Linux's; elsewhere keepalive and the
// link watch do the work.
func setUserTimeout(uintptr, time.Duration) error { return nil }
