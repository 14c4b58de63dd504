package main

import (
	"fmt"
	"os"
	"testing"

	"github.com/passerelle/passerelle/runtime/appbuild"
)

// TestMain gives the test binary one compilation cache
// (PASSERELLE_COMPILE_CACHE), removed when the tests end, unless one is
// given: the local tools, dev, the demo and the test platforms all keep
// compiled modules there, so each example app is compiled once per run,
// not once per test (compiling one under the race detector takes most of
// a minute). Entries are keyed by the module's bytes and wazero's version
// and written whole (a temporary file renamed), so tests may share them;
// CI shares one between every package of a run.
func TestMain(m *testing.M) {
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

// sharedCompileCache points a test platform's compilation cache at the
// test binary's (TestMain) instead of one under its data directory.
func sharedCompileCache(cfg *platformConfig) { cfg.CacheDir = appbuild.CompileCacheDir() }
