package units

// The tests that start servers of their own call t.Parallel: most of
// their time is spent waiting (for a server to start, a link timeout, a
// writer, a catch-up), and two at a time (go test's -parallel defaults
// to GOMAXPROCS) halve the package's wall time on two cores. A test
// stays sequential when what it measures is the process's, not its
// own: the memory tests (memory_test.go, built without -race only) read
// the heap of the whole test binary, and Go runs sequential tests before,
// never with, the parallel ones.
