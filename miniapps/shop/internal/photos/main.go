// Command photos draws the shop's product photos into assets/ (small flat
// PNG pictures of each product, so that the example needs no image host).
// Run it from miniapps/shop with `go generate`.
package main

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"os"
	"path/filepath"
)

const size = 160

type rect struct{ x0, y0, x1, y1 int }

// products are drawn as a few rectangles of one colour on a light ground.
var products = []struct {
	name   string
	colour color.RGBA
	shapes []rect
}{
	{"tee.png", color.RGBA{0xd8, 0xc3, 0x9a, 0xff}, []rect{{50, 30, 110, 140}, {20, 30, 50, 70}, {110, 30, 140, 70}}},
	{"jeans.png", color.RGBA{0x2b, 0x3a, 0x67, 0xff}, []rect{{45, 20, 115, 50}, {45, 50, 77, 145}, {83, 50, 115, 145}}},
	{"hoodie.png", color.RGBA{0x2e, 0x5e, 0x3e, 0xff}, []rect{{48, 40, 112, 145}, {18, 40, 48, 130}, {112, 40, 142, 130}, {58, 12, 102, 40}}},
	{"cap.png", color.RGBA{0x6b, 0x4f, 0x3a, 0xff}, []rect{{40, 60, 120, 105}, {30, 100, 135, 115}, {74, 48, 86, 60}}},
}

func main() {
	dir := "assets"
	if err := os.MkdirAll(dir, 0o755); err != nil {
		fail(err)
	}
	for _, p := range products {
		img := image.NewPaletted(image.Rect(0, 0, size, size), color.Palette{color.RGBA{0xf4, 0xf1, 0xea, 0xff}, p.colour})
		for _, r := range p.shapes {
			draw.Draw(img, image.Rect(r.x0, r.y0, r.x1, r.y1), image.NewUniform(p.colour), image.Point{}, draw.Src)
		}
		var b bytes.Buffer
		enc := png.Encoder{CompressionLevel: png.BestCompression}
		if err := enc.Encode(&b, img); err != nil {
			fail(err)
		}
		if err := os.WriteFile(filepath.Join(dir, p.name), b.Bytes(), 0o644); err != nil {
			fail(err)
		}
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "photos:", err)
	os.Exit(1)
}
