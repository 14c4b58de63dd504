package meter_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero"

	"github.com/passerelle/passerelle/runtime/appbuild"
	"github.com/passerelle/passerelle/runtime/meter"
)

// TestInstrumentGoGuest instruments a real Go guest (miniapps/echo, built
// as `passerelle app build` does: a large module using most of the
// instruction set Go emits) and compiles the result. Running Go guests metered is covered
// by the mini-apps' own tests, which go through the sandbox.
func TestInstrumentGoGuest(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a wasm module with the go tool")
	}
	var stderr strings.Builder
	wasm, err := appbuild.GoBuild(context.Background(), filepath.Join("..", "..", "miniapps", "echo"), &stderr)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
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
