package passerelle_test

import (
	"errors"
	"fmt"
	"strings"

	passerelle "github.com/passerelle/passerelle/sdk/go"
	"github.com/passerelle/passerelle/sdk/go/sdktest"
)

// A shop greets people with a card, answers the buttons and repeats
// anything else. In the sandbox, main's init would call passerelle.Serve(app);
// here sdktest runs the same app natively.
func ExampleNewApp() {
	app := passerelle.NewApp()
	app.OnOpen(func(c *passerelle.Context, ev *passerelle.Event) error {
		_, err := c.SendCard(passerelle.Card{
			Title:   "Corner shop",
			Buttons: []passerelle.Button{{ID: "hours", Title: "Opening hours"}},
		})
		return err
	})
	app.OnAction(func(c *passerelle.Context, ev *passerelle.Event) error {
		_, err := c.SendText("Open 8:00 to 20:00, every day.")
		return err
	})
	app.OnMessage(func(c *passerelle.Context, ev *passerelle.Event) error {
		_, err := c.SendText(strings.ToUpper(ev.Text) + "?")
		return err
	})

	h := sdktest.New(app)
	_ = h.Open()
	_ = h.Press("hours")
	_ = h.Message("milk")
	for _, m := range h.Sent() {
		fmt.Println(sdktest.Render(m))
	}
	// Output:
	// [Corner shop]
	// 1. Opening hours
	// Open 8:00 to 20:00, every day.
	// MILK?
}

// A failed host call is an *Error that matches one of the sentinel errors.
func ExampleError() {
	app := passerelle.NewApp().OnMessage(func(c *passerelle.Context, ev *passerelle.Event) error {
		_, err := c.SendText("hi")
		var pe *passerelle.Error
		if errors.As(err, &pe) {
			fmt.Println(pe.Op, pe.Status, pe.Code, errors.Is(err, passerelle.ErrQuota))
		}
		return err
	})
	h := sdktest.New(app)
	h.Handle("chat.send", func([]byte) (any, error) {
		return nil, &passerelle.Error{Status: passerelle.StatusQuota, Message: "too many messages; wait a minute"}
	})
	err := h.Message("x")
	fmt.Println(err)
	fmt.Println(passerelle.StatusOf(err))
	// Output:
	// chat.send quota_exceeded quota_exceeded true
	// chat.send: quota_exceeded: too many messages; wait a minute
	// quota_exceeded
}
