package apps_test

import (
	"testing"

	"github.com/passerelle/passerelle/runtime/appbuild/cachetest"
)

// TestMain gives the tests one compilation cache (appbuild.CompileCacheDir),
// so that their guests compile once per run.
func TestMain(m *testing.M) { cachetest.Main(m) }
