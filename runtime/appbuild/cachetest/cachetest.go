// Package cachetest gives a test binary one compilation cache, so that
// each app its tests load is compiled once per run, not once per test
// (compiling a Go guest under the race detector takes most of a minute).
package cachetest

import (
	"fmt"
	"os"
	"testing"
)

// Main runs m, from a package's TestMain, with PASSERELLE_COMPILE_CACHE
// naming one cache for the whole binary: the one already given (CI shares
// one between every package of a run; "off" keeps compiled code in memory
// only), else a temporary directory removed when the tests end. Tests find
// it with appbuild.CompileCacheDir. Entries are keyed by the module's bytes
// and wazero's version and written whole (a temporary file renamed), so
// tests may share them.
func Main(m *testing.M) {
	if os.Getenv("PASSERELLE_COMPILE_CACHE") != "" {
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "passerelle-test-compile-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Setenv("PASSERELLE_COMPILE_CACHE", dir)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
