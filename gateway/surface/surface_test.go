package surface_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/passerelle/passerelle/gateway/surface"
	"github.com/passerelle/passerelle/host"
)

func buttons(n, titleLen int) []host.Button {
	out := make([]host.Button, n)
	for i := range out {
		t := fmt.Sprintf("b%d", i+1)
		t += strings.Repeat("x", titleLen-len(t))
		out[i] = host.Button{ID: fmt.Sprintf("id%d", i+1), Title: t, Value: fmt.Sprintf("v%d", i+1)}
	}
	return out
}

func items(n, titleLen int) *host.List {
	l := &host.List{Button: "Menu"}
	for i := 0; i < n; i++ {
		t := fmt.Sprintf("i%d", i+1)
		t += strings.Repeat("y", titleLen-len(t))
		l.Items = append(l.Items, host.ListItem{ID: fmt.Sprintf("item%d", i+1), Title: t})
	}
	return l
}

func TestRenderLimits(t *testing.T) {
	tests := []struct {
		name string
		s    surface.Name
		card host.Card
		kind string
	}{
		{"web many buttons native", surface.Web, host.Card{Text: "pick", Buttons: buttons(12, 40)}, surface.KindCard},
		{"whatsapp 3 buttons of 20", surface.WhatsApp, host.Card{Text: "pick", Buttons: buttons(3, 20)}, surface.KindButtons},
		{"whatsapp 4 buttons", surface.WhatsApp, host.Card{Text: "pick", Buttons: buttons(4, 5)}, surface.KindMenu},
		{"whatsapp button title 21", surface.WhatsApp, host.Card{Text: "pick", Buttons: buttons(2, 21)}, surface.KindMenu},
		{"whatsapp list 10 rows of 24", surface.WhatsApp, host.Card{Text: "pick", List: items(10, 24)}, surface.KindList},
		{"whatsapp list 11 rows", surface.WhatsApp, host.Card{Text: "pick", List: items(11, 5)}, surface.KindMenu},
		{"whatsapp list row title 25", surface.WhatsApp, host.Card{Text: "pick", List: items(3, 25)}, surface.KindMenu},
		{"messenger 13 quick replies of 20", surface.Messenger, host.Card{Text: "pick", Buttons: buttons(13, 20)}, surface.KindQuickReplies},
		{"messenger 14 quick replies", surface.Messenger, host.Card{Text: "pick", Buttons: buttons(14, 5)}, surface.KindMenu},
		{"instagram quick reply title 21", surface.Instagram, host.Card{Text: "pick", Buttons: buttons(4, 21)}, surface.KindMenu},
		{"messenger titled card 3 buttons is generic", surface.Messenger, host.Card{Title: "Shirt", Image: "https://x/y.png", Buttons: buttons(3, 20)}, surface.KindGeneric},
		{"messenger titled card 4 buttons quick replies", surface.Messenger, host.Card{Title: "Shirt", Buttons: buttons(4, 20)}, surface.KindQuickReplies},
		{"messenger list 10 long titles generic", surface.Messenger, host.Card{Text: "pick", List: items(10, 30)}, surface.KindGeneric},
		{"messenger list 11 long titles menu", surface.Messenger, host.Card{Text: "pick", List: items(11, 30)}, surface.KindMenu},
		{"whatsapp form degrades to text", surface.WhatsApp, host.Card{Form: &host.Form{ID: "f", Fields: []host.FormField{{Name: "a", Label: "Address"}}}}, surface.KindForm},
		{"whatsapp text only card", surface.WhatsApp, host.Card{Title: "Hi", Text: "there"}, surface.KindText},
		{"whatsapp share card", surface.WhatsApp, host.Card{Title: "Lunch", Share: &host.Share{App: "lunch"}}, surface.KindButtons},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			card := tt.card
			r := surface.Render(tt.s, host.Message{Card: &card})
			if r.Kind != tt.kind {
				t.Fatalf("kind = %q, want %q (%+v)", r.Kind, tt.kind, r)
			}
			switch r.Kind {
			case surface.KindButtons:
				if len(r.Choices) > surface.WhatsAppMaxButtons {
					t.Fatalf("%d buttons > %d", len(r.Choices), surface.WhatsAppMaxButtons)
				}
			case surface.KindQuickReplies:
				if len(r.Choices) > surface.MessengerMaxQuickReplies {
					t.Fatalf("%d quick replies", len(r.Choices))
				}
			case surface.KindGeneric:
				if len(r.Elements) > surface.MessengerMaxElements {
					t.Fatalf("%d elements", len(r.Elements))
				}
				for _, e := range r.Elements {
					if len(e.Buttons) > surface.MessengerMaxElemButtons {
						t.Fatalf("%d buttons in element", len(e.Buttons))
					}
				}
			case surface.KindMenu:
				if !strings.Contains(r.Text, "1. ") || !strings.Contains(r.Text, "Reply with a number") {
					t.Fatalf("menu text %q", r.Text)
				}
			}
		})
	}
}

// TestCatalogueKeepsPrices: a list whose items carry a description (the
// shop's prices) keeps it on every surface, never dropped for quick replies.
func TestCatalogueKeepsPrices(t *testing.T) {
	catalogue := &host.Card{Title: "Atelier Nord", List: &host.List{Button: "Browse", Items: []host.ListItem{
		{ID: "tee", Title: "Linen tee", Description: "29.00 € · Washed linen"},
		{ID: "cap", Title: "Wool cap", Description: "19.00 € · Merino wool"},
	}}}
	long := *catalogue
	long.List = &host.List{Items: append(slices.Clone(catalogue.List.Items), host.ListItem{ID: "x", Title: strings.Repeat("x", 90), Description: "5.00 €"})}
	tests := []struct {
		name string
		s    surface.Name
		card *host.Card
		kind string
	}{
		{"messenger", surface.Messenger, catalogue, surface.KindGeneric},
		{"instagram", surface.Instagram, catalogue, surface.KindGeneric},
		{"whatsapp", surface.WhatsApp, catalogue, surface.KindList},
		{"messenger, titles too long for elements", surface.Messenger, &long, surface.KindMenu},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := surface.Render(tt.s, host.Message{Card: tt.card})
			if r.Kind != tt.kind {
				t.Fatalf("kind %q, want %q", r.Kind, tt.kind)
			}
			shown, _ := json.Marshal(r)
			for _, price := range []string{"29.00 €", "19.00 €"} {
				if !strings.Contains(string(shown), price) {
					t.Errorf("the %s rendering lacks the price %s: %s", tt.s, price, shown)
				}
			}
		})
	}
}

func TestPick(t *testing.T) {
	r := surface.Render(surface.WhatsApp, host.Message{Card: &host.Card{Text: "Pick", Buttons: buttons(5, 6)}})
	if !r.Degraded() {
		t.Fatalf("want a menu, got %q", r.Kind)
	}
	tests := []struct {
		reply string
		id    string
		ok    bool
	}{
		{"2", "id2", true}, {" 2. ", "id2", true}, {"#5", "id5", true}, {"1)", "id1", true},
		{"0", "", false}, {"6", "", false}, {"two", "", false}, {"", "", false}, {"-1", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.reply, func(t *testing.T) {
			c, ok := r.Pick(tt.reply)
			if ok != tt.ok || c.ID != tt.id {
				t.Fatalf("Pick(%q) = %+v, %v; want %q, %v", tt.reply, c, ok, tt.id, tt.ok)
			}
			if ok && c.Value != "v"+tt.id[2:] {
				t.Fatalf("value %q", c.Value)
			}
		})
	}
	native := surface.Render(surface.WhatsApp, host.Message{Card: &host.Card{Text: "Pick", Buttons: buttons(2, 6)}})
	if _, ok := native.Pick("1"); ok {
		t.Fatal("a native rendering must not map numbers")
	}
}

func TestMayPick(t *testing.T) {
	tests := []struct {
		s     surface.Name
		reply string
		want  bool
	}{
		{surface.WhatsApp, "2", true}, {surface.Messenger, " #3 ", true}, {surface.Instagram, "1)", true},
		{surface.WhatsApp, "hello", false}, {surface.WhatsApp, "0", false}, {surface.WhatsApp, "", false},
		{surface.Web, "2", false}, // the web renders every card natively: no menus
	}
	for _, tt := range tests {
		if got := surface.MayPick(tt.s, tt.reply); got != tt.want {
			t.Errorf("MayPick(%s, %q) = %v, want %v", tt.s, tt.reply, got, tt.want)
		}
	}
	// Every reply that picks from a menu is one MayPick lets through.
	r := surface.Render(surface.WhatsApp, host.Message{Card: &host.Card{Text: "Pick", Buttons: buttons(5, 6)}})
	for _, reply := range []string{"1", "2.", "#3", "4)", " 5 "} {
		if _, ok := r.Pick(reply); !ok || !surface.MayPick(surface.WhatsApp, reply) {
			t.Errorf("reply %q: Pick ok %v, MayPick %v", reply, ok, surface.MayPick(surface.WhatsApp, reply))
		}
	}
}

func TestParse(t *testing.T) {
	for _, s := range []string{"", "web", "WhatsApp", "messenger", "instagram"} {
		if _, err := surface.Parse(s); err != nil {
			t.Errorf("Parse(%q): %v", s, err)
		}
	}
	if _, err := surface.Parse("telegram"); err == nil {
		t.Error("Parse(telegram) succeeded")
	}
}
