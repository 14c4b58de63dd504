package sandbox

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	goruntime "runtime"
	"testing"
	"unsafe"

	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/runtime/wasmfile"
)

func TestGuestMemoryGrowsInPlace(t *testing.T) {
	const page = 65536
	m := &guestMemory{}
	lm := m.allocator().Allocate(2*page, 8*page)
	b := lm.Reallocate(page)
	if len(b) != page {
		t.Fatalf("Reallocate(1 page) has %d bytes", len(b))
	}
	b[page-1] = 42
	grown := lm.Reallocate(5 * page)
	if len(grown) != 5*page || grown[page-1] != 42 {
		t.Fatalf("after growing: %d bytes, byte %d = %d; want 5 pages keeping 42", len(grown), page-1, grown[page-1])
	}
	if goruntime.GOOS == "linux" {
		if !m.mapped {
			t.Fatal("on Linux the memory should be a reservation")
		}
		if unsafe.SliceData(grown) != unsafe.SliceData(b) {
			t.Error("the memory moved while growing within its reservation")
		}
	}
	if got := lm.Reallocate(9 * page); got != nil {
		t.Errorf("Reallocate past the maximum returned %d bytes, want nil", len(got))
	}
	lm.Free() // what wazero does on close: nothing is released yet
	if m.released {
		t.Fatal("Free released the memory; only release may")
	}
	m.release()
	m.release() // twice is harmless
	if !m.released || m.buf != nil {
		t.Fatal("release left the memory in place")
	}
	if got := lm.Reallocate(page); got != nil {
		t.Error("a released memory grew again")
	}
}

func loadFixture(t *testing.T, e *Engine, name string, limits host.Limits) *App {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", name+".wasm"))
	if err != nil {
		t.Fatal(err)
	}
	wasm, err := wasmfile.EmbedManifest(raw, &host.Manifest{ABI: host.ABIVersion, ID: "fx-" + name, Name: name, Version: "1.0.0", Limits: limits})
	if err != nil {
		t.Fatal(err)
	}
	a, err := e.Load(context.Background(), host.AppRef{Merchant: "m1"}, wasm)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestInstanceMemoryReleased checks that an instance's memory is given back
// when the instance is closed: after a deadline (the event stopped in the
// middle of the guest's code), and when its app closes.
func TestInstanceMemoryReleased(t *testing.T) {
	ctx := context.Background()
	e, err := New(ctx, Config{PoolSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(ctx)

	loop := loadFixture(t, e, "loop", host.Limits{EventTimeoutMS: 20})
	inst := <-loop.idle
	loop.idle <- inst
	if inst.memory.released {
		t.Fatal("a warm instance's memory is released")
	}
	_, err = loop.Dispatch(ctx, &Event{Payload: []byte(`{}`)})
	var le *LimitError
	if !errors.As(err, &le) || le.Limit != LimitDeadline {
		t.Fatalf("loop: %v, want the deadline", err)
	}
	if !inst.memory.released {
		t.Error("the instance stopped at its deadline kept its memory")
	}
	// Closing an app releases the memory of its idle instances.
	next := loadFixture(t, e, "noop", host.Limits{})
	if _, err := next.Dispatch(ctx, &Event{Payload: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	idle := <-next.idle
	next.idle <- idle
	if err := next.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if !idle.memory.released {
		t.Error("closing the app left its idle instance's memory")
	}
}
