package assets_test

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/passerelle/passerelle/runtime/assets"
	"github.com/passerelle/passerelle/runtime/wasmfile"
)

func tinyPNG(t testing.TB, c color.Color) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 4, 4))
	for i := range 16 {
		img.Set(i%4, i/4, c)
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// emptyModule is the smallest valid wasm module: magic and version.
var emptyModule = []byte{0, 'a', 's', 'm', 1, 0, 0, 0}

func TestPackRoundTripThroughModule(t *testing.T) {
	red, blue := tinyPNG(t, color.RGBA{255, 0, 0, 255}), tinyPNG(t, color.RGBA{0, 0, 255, 255})
	webp := []byte("RIFF\x1a\x00\x00\x00WEBPVP8L\x0d\x00\x00\x00\x2f\x00\x00\x00\x10\x07\x10\x11\x11\x88\x88\xfe\x07\x00")
	in := []assets.Asset{{Name: "shirt.png", Data: red}, {Name: "cap-2.png", Data: blue}, {Name: "x.webp", Data: webp}}
	wasm, err := assets.Embed(emptyModule, in)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := wasmfile.ReadShape(wasm); err != nil {
		t.Fatalf("module with assets no longer parses: %v", err)
	}
	got, err := assets.FromModule(wasm)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].Name != "cap-2.png" || got[1].Name != "shirt.png" || !bytes.Equal(got[1].Data, red) {
		t.Fatalf("round trip: got %+v", got)
	}
	if got[1].Type != "image/png" || got[2].Type != "image/webp" {
		t.Fatalf("types: %q %q", got[1].Type, got[2].Type)
	}
	if p := got[1].Path(); !strings.HasPrefix(p, "/assets/") || !strings.HasSuffix(p, ".png") || len(p) != len("/assets/")+64+4 {
		t.Fatalf("path %q is not /assets/<sha256>.png", p)
	}
	url, ok, err := assets.Resolve(got, "asset:shirt.png")
	if err != nil || !ok || url != got[1].Path() {
		t.Fatalf("Resolve = %q %v %v", url, ok, err)
	}
	if _, _, err := assets.Resolve(got, "asset:nope.png"); !errors.Is(err, assets.ErrInvalid) || !strings.Contains(err.Error(), "nope.png") {
		t.Fatalf("unknown name: %v", err)
	}
	if u, ok, err := assets.Resolve(got, "https://x/y.png"); err != nil || ok || u != "https://x/y.png" {
		t.Fatalf("https URL changed: %q %v %v", u, ok, err)
	}
	// Embedding again replaces, it does not add a second section.
	again, err := assets.Embed(wasm, in[:1])
	if err != nil {
		t.Fatal(err)
	}
	if got, err := assets.FromModule(again); err != nil || len(got) != 1 {
		t.Fatalf("re-embed: %d assets, %v", len(got), err)
	}
	if got, err := assets.FromModule(emptyModule); err != nil || got != nil {
		t.Fatalf("module without assets: %v %v", got, err)
	}
}

func TestValidateRefuses(t *testing.T) {
	ok := tinyPNG(t, color.White)
	big := append(append([]byte{}, ok...), make([]byte, assets.MaxFileBytes)...)
	var many []assets.Asset
	for i := range assets.MaxFiles + 1 {
		many = append(many, assets.Asset{Name: strings.Repeat("a", i+1) + ".png", Data: ok})
	}
	var heavy []assets.Asset
	for i := range 9 {
		heavy = append(heavy, assets.Asset{Name: string(rune('a'+i)) + ".png", Data: append(append([]byte{}, ok...), make([]byte, assets.MaxFileBytes-len(ok))...)})
	}
	for _, tc := range []struct {
		name  string
		files []assets.Asset
		want  string
	}{
		{"text named png", []assets.Asset{{Name: "shirt.png", Data: []byte("just some text")}}, `"shirt.png": not a PNG, JPEG or WebP`},
		{"png magic but broken header", []assets.Asset{{Name: "b.png", Data: []byte("\x89PNG\r\n\x1a\nbroken")}}, `"b.png": image/png header does not decode`},
		{"svg", []assets.Asset{{Name: "a.svg", Data: []byte("<svg xmlns='http://www.w3.org/2000/svg'/>")}}, "not a PNG, JPEG or WebP"},
		{"too big", []assets.Asset{{Name: "big.png", Data: big}}, `"big.png": ` + "524" /* bytes */},
		{"too much in all", heavy, "in all"},
		{"too many", many, "65 files, at most 64"},
		{"upper case", []assets.Asset{{Name: "Shirt.png", Data: ok}}, `"Shirt.png": the name may hold only`},
		{"slash", []assets.Asset{{Name: "../x.png", Data: ok}}, "the name may hold only"},
		{"dot first", []assets.Asset{{Name: ".x.png", Data: ok}}, "may not start with '.'"},
		{"empty name", []assets.Asset{{Name: "", Data: ok}}, "1 to 64 characters"},
		{"twice", []assets.Asset{{Name: "a.png", Data: ok}, {Name: "a.png", Data: ok}}, "appears twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := assets.Pack(tc.files)
			if !errors.Is(err, assets.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Pack: %v, want ErrInvalid containing %q", err, tc.want)
			}
		})
	}
	t.Run("section not JSON", func(t *testing.T) {
		if _, err := assets.Unpack([]byte("nope")); !errors.Is(err, assets.ErrInvalid) {
			t.Fatalf("Unpack: %v", err)
		}
	})
}

func TestReadDir(t *testing.T) {
	dir := t.TempDir()
	if got, err := assets.ReadDir(filepath.Join(dir, "missing")); err != nil || got != nil {
		t.Fatalf("missing dir: %v %v", got, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "a.png"), tinyPNG(t, color.Black), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := assets.ReadDir(dir); err != nil || len(got) != 1 || got[0].Type != "image/png" {
		t.Fatalf("ReadDir: %v %v", got, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "notes.png"), []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := assets.ReadDir(dir); err == nil || !strings.Contains(err.Error(), `"notes.png"`) {
		t.Fatalf("ReadDir with a text .png: %v", err)
	}
}

func FuzzUnpack(f *testing.F) {
	f.Add([]byte(`[{"name":"a.png","data":"iVBORw0KGgo="}]`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		files, err := assets.Unpack(raw)
		if err != nil {
			return
		}
		for _, a := range files {
			if assets.ValidName(a.Name) != nil || len(a.Data) > assets.MaxFileBytes || a.Type == "" {
				t.Fatalf("Unpack accepted %q (%d bytes, type %q)", a.Name, len(a.Data), a.Type)
			}
		}
	})
}
