package chat_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/host/chat"
)

// TestNotifyCarriesBasis: chat.notify's purpose or template and params
// travel on the Outgoing, for a network that must send a template; bad
// params are refused with nothing sent.
func TestNotifyCarriesBasis(t *testing.T) {
	ctx := context.Background()
	notify := op(chat.New(chat.Config{}), "chat.notify")
	tests := []struct {
		name, req string
		want      *host.Basis
		refused   string
	}{
		{"template and params", `{"text":"Table for 4","template":"table-ready","params":["4","Ada"]}`, &host.Basis{Template: "table-ready", Params: []string{"4", "Ada"}}, ""},
		{"purpose", `{"text":"Autumn is in","purpose":"updates"}`, &host.Basis{Purpose: "updates"}, ""},
		{"neither", `{"text":"hello"}`, nil, ""},
		{"empty param", `{"text":"x","template":"t","params":["4",""]}`, nil, "params[1]"},
		{"too many params", fmt.Sprintf(`{"text":"x","template":"t","params":[%s"z"]}`, strings.Repeat(`"a",`, chat.MaxParams)), nil, "at most 20"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := &outbox{}
			_, err := notify.Handle(ctx, newCall(out), []byte(tt.req))
			if tt.refused != "" {
				if host.StatusOf(err) != host.StatusBadRequest || !strings.Contains(host.MessageOf(err), tt.refused) || len(out.out) != 0 {
					t.Fatalf("err %v, emitted %d; want bad_request about %s and nothing sent", err, len(out.out), tt.refused)
				}
				return
			}
			if err != nil || len(out.out) != 1 {
				t.Fatalf("err %v, emitted %d", err, len(out.out))
			}
			got := out.out[0].Basis
			if (got == nil) != (tt.want == nil) || got != nil && (got.Purpose != tt.want.Purpose || got.Template != tt.want.Template || !slices.Equal(got.Params, tt.want.Params)) {
				t.Fatalf("basis %+v, want %+v", got, tt.want)
			}
		})
	}
}
