package api_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNoWebAssemblyRuntime checks that the HTTP API builds without wazero:
// it reads the sandbox's reports (runtime/sandbox/report) and reaches the
// router through the Apps interface only.
func TestNoWebAssemblyRuntime(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH")
	}
	out, err := exec.Command(gobin, "list", "-deps", "github.com/passerelle/passerelle/gateway/api").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, p := range strings.Fields(string(out)) {
		if strings.HasPrefix(p, "github.com/tetratelabs/wazero") || p == "github.com/passerelle/passerelle/runtime/sandbox" {
			t.Errorf("gateway/api depends on %s", p)
		}
	}
}
