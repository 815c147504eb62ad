// Package golden compares what a test produced with a file under the
// repository's one golden folder, testdata/golden/, and rewrites the file
// when the tests run with -update:
//
//	go test ./... -update
//
// The -update flag is defined here, so every test binary that imports this
// package accepts it. go test fails a package whose binary lacks a flag it
// is given, so every package with tests imports it, at least blank
// (update_test.go); TestEveryTestPackageAcceptsUpdate keeps it so.
package golden
