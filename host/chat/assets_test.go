package chat_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/host/chat"
)

// shipped is an app version's assets, as runtime/registry resolves them.
type shipped map[string]string

func (s shipped) AssetPath(_ context.Context, app host.AppRef, name string) (string, error) {
	if p, ok := s[app.App+"@"+app.Version+"/"+name]; ok {
		return p, nil
	}
	return "", fmt.Errorf("%s ships no asset %q", app.App, name)
}

func TestCardAssetImage(t *testing.T) {
	tee := "/assets/" + strings.Repeat("ab", 32) + ".png"
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		assets chat.Assets
		op     string
		req    string
		want   string // the image sent, or "" when refused
		err    string
	}{
		{"send resolves", shipped{"shop@1/tee.png": tee}, "chat.send", `{"card":{"title":"Tee","image":"asset:tee.png"}}`, tee, ""},
		{"share resolves", shipped{"shop@1/tee.png": tee}, "chat.share", `{"conversation":"c-alice-shop","card":{"title":"Tee","image":"asset:tee.png"}}`, tee, ""},
		{"notify resolves", shipped{"shop@1/tee.png": tee}, "chat.notify", `{"card":{"title":"Tee","image":"asset:tee.png"},"purpose":"order"}`, tee, ""},
		{"https unchanged", shipped{}, "chat.send", `{"card":{"title":"Tee","image":"https://x.example/t.png"}}`, "https://x.example/t.png", ""},
		{"unknown name", shipped{"shop@1/tee.png": tee}, "chat.send", `{"card":{"title":"Tee","image":"asset:cap.png"}}`, "", `ships no asset "cap.png"`},
		{"other version's asset", shipped{"shop@2/tee.png": tee}, "chat.send", `{"card":{"title":"Tee","image":"asset:tee.png"}}`, "", `ships no asset "tee.png"`},
		{"no assets here", nil, "chat.send", `{"card":{"title":"Tee","image":"asset:tee.png"}}`, "", "serves no app assets"},
		{"made-up asset path", shipped{}, "chat.send", `{"card":{"title":"Tee","image":"/assets/../x.png"}}`, "", "not an https URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := &outbox{}
			f := op(chat.New(chat.Config{Assets: tc.assets}), tc.op)
			_, err := f.Handle(ctx, newCall(out), []byte(tc.req))
			if tc.err != "" {
				if host.StatusOf(err) != host.StatusBadRequest || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want bad request containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(out.out) != 1 || out.out[0].Message == nil || out.out[0].Message.Card.Image != tc.want {
				t.Fatalf("sent %+v, want image %q", out.out, tc.want)
			}
		})
	}
}
