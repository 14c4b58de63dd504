package passerelle_test

import (
	"testing"

	passerelle "github.com/passerelle/passerelle/sdk/go"
)

// TestOnStatus: a status event as the platform writes it reaches OnStatus
// with every field; without an OnStatus it goes to OnOther.
func TestOnStatus(t *testing.T) {
	raw := []byte(`{"v":1,"type":"status","id":"ev_1","app":"lunch","conversation":"cv_1","user":"u_1","surface":"whatsapp",` +
		`"status":{"message":"msg_7","state":"failed","code":"window_closed","network_code":131047,"surface":"whatsapp"}}`)
	var got passerelle.MessageStatus
	app := passerelle.NewApp().OnStatus(func(c *passerelle.Context, ev *passerelle.Event) error {
		got = *ev.Status
		return nil
	})
	if err := app.Dispatch(nopHost{}, raw); err != nil {
		t.Fatal(err)
	}
	want := passerelle.MessageStatus{Message: "msg_7", State: passerelle.StateFailed, Code: "window_closed", NetworkCode: 131047, Surface: "whatsapp"}
	if got != want {
		t.Fatalf("status %+v, want %+v", got, want)
	}
	other := ""
	app = passerelle.NewApp().OnOther(func(c *passerelle.Context, ev *passerelle.Event) error { other = ev.Type; return nil })
	if err := app.Dispatch(nopHost{}, raw); err != nil || other != passerelle.EventStatus {
		t.Fatalf("OnOther got %q (%v), want the status event", other, err)
	}
}

type nopHost struct{}

func (nopHost) Call(string, []byte) (passerelle.Status, []byte) {
	return passerelle.StatusOK, []byte(`{}`)
}
func (nopHost) Log(passerelle.Level, string) {}
