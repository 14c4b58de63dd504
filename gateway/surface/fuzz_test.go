package surface_test

import (
	"encoding/json"
	"testing"
	"unicode/utf8"

	"github.com/passerelle/passerelle/gateway/surface"
	"github.com/passerelle/passerelle/host"
)

// FuzzRender renders app-made messages for every surface and checks that
// nothing exceeds a surface's limits and that every menu number maps back.
func FuzzRender(f *testing.F) {
	for _, s := range []string{
		`{"text":"hi"}`,
		`{"card":{"title":"T","buttons":[{"id":"a","title":"A"},{"id":"b","title":"B"},{"id":"c","title":"C"},{"id":"d","title":"D"}]}}`,
		`{"card":{"text":"x","list":{"items":[{"id":"1","title":"a very long row title that does not fit"}]}}}`,
		`{"card":{"title":"S","image":"https://x/y.png","share":{"app":"lunch","payload":"p"}}}`,
		`{"card":{"form":{"id":"f","fields":[{"name":"a","label":"A"}]}}}`,
	} {
		f.Add([]byte(s), "2")
	}
	f.Fuzz(func(t *testing.T, data []byte, reply string) {
		var m host.Message
		if json.Unmarshal(data, &m) != nil {
			return
		}
		for _, s := range surface.All() {
			r := surface.Render(s, m)
			title := func(max int, cs []surface.Choice) {
				for _, c := range cs {
					if utf8.RuneCountInString(c.Title) > max {
						t.Fatalf("%s %s: title %q over %d", s, r.Kind, c.Title, max)
					}
				}
			}
			switch r.Kind {
			case surface.KindButtons:
				if len(r.Choices) > surface.WhatsAppMaxButtons {
					t.Fatalf("%d buttons", len(r.Choices))
				}
				title(surface.WhatsAppButtonTitle, r.Choices)
			case surface.KindList:
				if len(r.Choices) > surface.WhatsAppMaxListRows {
					t.Fatalf("%d rows", len(r.Choices))
				}
				title(surface.WhatsAppListRowTitle, r.Choices)
			case surface.KindQuickReplies:
				if len(r.Choices) > surface.MessengerMaxQuickReplies {
					t.Fatalf("%d quick replies", len(r.Choices))
				}
				title(surface.MessengerQuickReplyTitle, r.Choices)
			case surface.KindGeneric:
				if len(r.Elements) > surface.MessengerMaxElements {
					t.Fatalf("%d elements", len(r.Elements))
				}
				for _, e := range r.Elements {
					if len(e.Buttons) > surface.MessengerMaxElemButtons {
						t.Fatalf("%d element buttons", len(e.Buttons))
					}
					title(surface.MessengerButtonTitle, e.Buttons)
				}
			case surface.KindCard:
				if s != surface.Web {
					t.Fatalf("a card on %s", s)
				}
			}
			if c, ok := r.Pick(reply); ok && !r.Degraded() {
				t.Fatalf("%s %s: a native rendering mapped %q to %+v", s, r.Kind, reply, c)
			}
		}
	})
}
