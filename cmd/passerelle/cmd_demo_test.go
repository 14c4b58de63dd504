package main

import (
	"context"
	"log/slog"
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/passerelle/passerelle/miniapps/dist"
	"github.com/passerelle/passerelle/runtime/wasmfile"
)

// TestDemoWithoutToolchain starts the demo as a binary installed with `go
// install` would, away from the repository and with no Go toolchain on
// PATH: it installs the example apps the binary carries and signs the
// people in.
func TestDemoWithoutToolchain(t *testing.T) {
	t.Chdir(t.TempDir())
	t.Setenv("PATH", t.TempDir())
	if p, err := exec.LookPath("go"); err == nil {
		t.Fatalf("go is still on PATH at %s", p)
	}
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx := context.Background()
	d, err := startDemo(ctx, demoOptions{Addr: "127.0.0.1:0", Config: sharedCompileCache}, log, t.Output())
	if err != nil {
		t.Fatalf("start the demo: %v", err)
	}
	t.Cleanup(func() { d.close(context.Background()) })

	apps, err := d.p.registry.Apps("")
	if err != nil {
		t.Fatal(err)
	}
	var live []string
	for _, a := range apps {
		if a.Live != "" {
			live = append(live, a.ID)
		}
	}
	slices.Sort(live)
	if want := carriedIDs(t); len(want) < 5 || !slices.Equal(live, want) {
		t.Fatalf("live apps %v, want those the binary carries, %v", live, want)
	}
	if len(d.people) != len(demoPeople) {
		t.Fatalf("%d people signed in, want %d", len(d.people), len(demoPeople))
	}
	for _, l := range d.people {
		if !strings.HasPrefix(l.URL, d.p.url()+"/?surface="+l.Surface+"#token=") {
			t.Fatalf("%s's URL %q", l.Name, l.URL)
		}
	}
	resp, err := http.Get(d.p.url() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/healthz: %s", resp.Status)
	}
}

// carriedIDs returns the ids of the apps the binary carries, sorted.
func carriedIDs(t *testing.T) []string {
	t.Helper()
	mods, err := dist.Modules()
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range mods {
		man, err := wasmfile.ReadManifest(m.Wasm)
		if err != nil {
			t.Fatalf("%s: %v", m.Name, err)
		}
		ids = append(ids, man.ID)
	}
	slices.Sort(ids)
	return ids
}

func TestDemoApps(t *testing.T) {
	all := carriedIDs(t)
	tests := []struct {
		name    string
		only    []string
		want    []string
		wantErr string
	}{
		{"all", nil, all, ""},
		{"only", []string{"lunch", "echo"}, []string{"echo", "lunch"}, ""},
		{"unknown", []string{"lunch", "pizza"}, nil, `no example app "pizza"; there are: ` + strings.Join(all, ", ")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			built, err := demoApps(context.Background(), "", tt.only, t.Output())
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one saying %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, b := range built {
				ids = append(ids, b.Manifest.ID)
			}
			if !slices.Equal(ids, tt.want) {
				t.Fatalf("apps %v, want %v", ids, tt.want)
			}
		})
	}
}
