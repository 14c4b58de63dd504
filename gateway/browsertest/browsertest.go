// Package browsertest drives the embedded web client in a real headless
// Chromium for tests, as net/http/httptest serves handlers: it finds the
// browser, starts it with the flags this project's machines need, opens tabs
// and saves screenshots as test artefacts.
//
// Chromium comes from the operating system (Debian's chromium package,
// installed by .ci/setup); nothing is downloaded. Without a browser a test
// is skipped, except when the environment variable CI is set: there a
// missing browser fails the test.
package browsertest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Chromium returns the path of the browser to drive, skipping t when there
// is none outside CI and failing it on CI.
func Chromium(t testing.TB) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("no chromium binary found on PATH and CI is set: install Debian's chromium package (bash .ci/setup)")
	}
	t.Skip("no chromium binary found on PATH (install Debian's chromium package to run the browser tests)")
	return ""
}

// Artifacts returns the directory for t's screenshots: $ARTIFACTS_DIR/<test
// name> when ARTIFACTS_DIR is set, else a temporary directory.
func Artifacts(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("ARTIFACTS_DIR")
	if dir == "" {
		return t.TempDir()
	}
	dir = filepath.Join(dir, t.Name())
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// Start starts a headless Chromium with a fresh profile that stops with t,
// or after timeout, and returns its browser context. Open tabs with Tab.
func Start(t testing.TB, timeout time.Duration) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(Chromium(t)),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		// No traffic but to the server under test: the machines have no
		// other network, and these features would try to reach out.
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1100, 760),
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(cancelAlloc)
	b, cancelB := chromedp.NewContext(alloc)
	t.Cleanup(cancelB)
	if err := chromedp.Do(b); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return b
}

// Tab opens a new tab in the browser b; it closes with t.
func Tab(t testing.TB, b context.Context) context.Context {
	ctx, cancel := chromedp.NewContext(b)
	t.Cleanup(cancel)
	return ctx
}

// Screenshot saves a full-page PNG of the tab ctx as dir/name and logs its
// path.
func Screenshot(t testing.TB, ctx context.Context, dir, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", p)
}
