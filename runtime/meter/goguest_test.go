package meter_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/tetratelabs/wazero"

	"github.com/passerelle/passerelle/runtime/meter"
)

// TestInstrumentGoGuest instruments a real Go guest (miniapps/echo, built
// with the Go toolchain: a large module using most of the instruction set
// Go emits) and compiles the result. Running Go guests metered is covered
// by the mini-apps' own tests, which go through the sandbox.
func TestInstrumentGoGuest(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a wasm module with the go tool")
	}
	out := filepath.Join(t.TempDir(), "echo.wasm")
	cmd := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-buildmode=c-shared", "-o", out, ".")
	cmd.Dir = filepath.Join("..", "..", "miniapps", "echo")
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "GOFLAGS=")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	wasm, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	inst, err := meter.Instrument(wasm, meter.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	rt := wazero.NewRuntime(ctx)
	defer rt.Close(ctx)
	cm, err := rt.CompileModule(ctx, inst)
	if err != nil {
		t.Fatalf("the instrumented Go guest does not compile: %v", err)
	}
	defer cm.Close(ctx)
	imports := map[string]bool{}
	for _, f := range cm.ImportedFunctions() {
		mod, name, _ := f.Import()
		imports[mod+"."+name] = true
	}
	if !imports[meter.Module+"."+meter.ImportRefill] || !imports[meter.Module+"."+meter.ImportDepth] {
		t.Errorf("imports = %v, want the meter's", imports)
	}
	if _, ok := cm.ExportedFunctions()["passerelle_v1_on_event"]; !ok {
		t.Error("passerelle_v1_on_event is no longer exported")
	}
	t.Logf("%d bytes, %d instrumented (+%.1f%%)", len(wasm), len(inst), 100*float64(len(inst)-len(wasm))/float64(len(wasm)))
}
