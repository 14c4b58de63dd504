package replay_test

import (
	"fmt"
	"os"
	"testing"
)

// compileCache is the compilation cache the tests' environments share
// (newEnv), so that the guest is compiled once, not once per
// test (most of a minute under the race detector): PASSERELLE_COMPILE_CACHE
// when set (CI shares one between every package of a run), else a
// directory removed when the tests end. Entries are keyed by the module's
// bytes and written whole, so environments may share them.
var compileCache string

func TestMain(m *testing.M) {
	if compileCache = os.Getenv("PASSERELLE_COMPILE_CACHE"); compileCache != "" && compileCache != "off" {
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "replay-test-compile-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	compileCache = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
