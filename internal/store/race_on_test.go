//go:build race

package store_test

// raceDetector: the tests run under -race (about ten times slower for
// CPU-bound work such as decoding tens of thousands of keys).
const raceDetector = true
