package main

import (
	"testing"

	"github.com/passerelle/passerelle/runtime/appbuild"
	"github.com/passerelle/passerelle/runtime/appbuild/cachetest"
)

// TestMain gives the test binary one compilation cache
// (PASSERELLE_COMPILE_CACHE, cachetest.Main): the local tools, dev, the
// demo and the test platforms all keep compiled modules there, so each
// example app is compiled once per run, not once per test.
func TestMain(m *testing.M) { cachetest.Main(m) }

// sharedCompileCache points a test platform's compilation cache at the
// test binary's (TestMain) instead of one under its data directory.
func sharedCompileCache(cfg *platformConfig) { cfg.CacheDir = appbuild.CompileCacheDir() }
