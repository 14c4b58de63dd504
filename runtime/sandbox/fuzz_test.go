package sandbox_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/runtime/sandbox"
)

// FuzzCheck feeds arbitrary bytes to Check, as an upload would: it must
// report violations, never panic or fail.
func FuzzCheck(f *testing.F) {
	for _, name := range []string{"noop", "echo", "command", "unknown_import"} {
		f.Add(fixture(f, name, chat, host.Limits{}))
	}
	names, _ := filepath.Glob(filepath.Join("testdata", "*.wasm"))
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err == nil {
			f.Add(b)
		}
	}
	e, _ := newEngine(f, nil)
	f.Fuzz(func(t *testing.T, wasm []byte) {
		rep, err := e.Check(context.Background(), wasm)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range rep.Violations {
			if v.Rule == "" || v.Problem == "" || v.Fix == "" {
				t.Fatalf("incomplete violation %+v", v)
			}
		}
		if rep.OK() && rep.Manifest == nil {
			t.Fatal("a module without a manifest passed")
		}
	})
}

func ExampleEngine_Check() {
	ctx := context.Background()
	e, err := sandbox.New(ctx, sandbox.Config{})
	if err != nil {
		panic(err)
	}
	defer e.Close(ctx)
	rep, err := e.Check(ctx, []byte("print('hello')"))
	if err != nil {
		panic(err)
	}
	for _, v := range rep.Violations {
		fmt.Printf("%s: %s\n", v.Rule, v.Fix)
	}
	// Output:
	// module.invalid: upload the .wasm file, not source code or an archive; build with `passerelle app build`
}
