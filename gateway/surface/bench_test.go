package surface_test

import (
	"testing"

	"github.com/passerelle/passerelle/gateway/surface"
	"github.com/passerelle/passerelle/host"
)

func BenchmarkRender(b *testing.B) {
	m := host.Message{Card: &host.Card{Title: "Today", Text: "Pick a dish", Buttons: buttons(4, 8)}}
	for _, s := range surface.All() {
		b.Run(string(s), func(b *testing.B) {
			for b.Loop() {
				surface.Render(s, m)
			}
		})
	}
}
