package gateway_test

import (
	"errors"
	"testing"

	"github.com/passerelle/passerelle/gateway"
)

func FuzzParseFrame(f *testing.F) {
	for _, s := range []string{
		`{"type":"hello","v":1,"surface":"whatsapp","resume":{"d_x":3}}`,
		`{"type":"send","id":"1","to":"bob","text":"hi"}`,
		`{"type":"action","id":"2","conv":"a_x","action":{"id":"b","fields":{"a":"b"}}}`,
		`{"type":"answer","id":"3","prompt":"p","answer":"confirm"}`,
		`{"type":"group","members":["a","b"]}`,
		`{"type":`, `[]`, `null`, "\xff", `{"type":"send","text":1}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fr, err := gateway.ParseFrame(data, 4096)
		if err != nil {
			var e *gateway.Error
			if !errors.As(err, &e) || e.Code == "" || e.Message == "" {
				t.Fatalf("error without code: %v", err)
			}
			return
		}
		if fr == nil || fr.Type == "" {
			t.Fatalf("accepted frame without type: %q", data)
		}
		if fr.Type == gateway.TypeSend && fr.Text == "" {
			t.Fatal("accepted send without text")
		}
	})
}
