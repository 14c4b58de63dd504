package sdktest_test

import (
	"errors"
	"fmt"

	passerelle "github.com/passerelle/passerelle/sdk/go"
	"github.com/passerelle/passerelle/sdk/go/sdktest"
)

// menu is a small app: a card with two buttons on open, an answer per button.
func menu() *passerelle.App {
	app := passerelle.NewApp()
	app.OnOpen(func(c *passerelle.Context, ev *passerelle.Event) error {
		_, err := c.SendCard(passerelle.Card{
			Title: "Lunch",
			Text:  "What would you like?",
			Buttons: []passerelle.Button{
				{ID: "order", Title: "Soup", Value: "soup"},
				{ID: "order", Title: "Salad", Value: "salad"},
			},
		})
		return err
	})
	app.OnAction(func(c *passerelle.Context, ev *passerelle.Event) error {
		c.Logf(passerelle.LevelInfo, "%s ordered %s", ev.User, ev.Action.Value)
		_, err := c.SendText("One " + ev.Action.Value + " coming up.")
		return err
	})
	return app
}

func Example() {
	h := sdktest.New(menu())
	if err := h.Open(); err != nil {
		fmt.Println(err)
	}
	if err := h.Action(passerelle.Action{ID: "order", Value: "salad"}); err != nil {
		fmt.Println(err)
	}
	for _, m := range h.Sent() {
		fmt.Println(sdktest.Render(m))
	}
	fmt.Println(h.Logs()[0].Message)
	// Output:
	// [Lunch]
	// What would you like?
	// 1. Soup
	// 2. Salad
	// One salad coming up.
	// u1 ordered salad
}

func ExampleHost_Press() {
	app := passerelle.NewApp()
	app.OnMessage(func(c *passerelle.Context, ev *passerelle.Event) error {
		_, err := c.SendCard(passerelle.Card{Text: "Sure?", Buttons: []passerelle.Button{{ID: "yes", Title: "Yes"}}})
		return err
	})
	app.OnAction(func(c *passerelle.Context, ev *passerelle.Event) error {
		_, err := c.SendText("pressed " + ev.Action.ID)
		return err
	})
	h := sdktest.New(app)
	_ = h.Message("delete everything")
	fmt.Println(h.Press("no"))
	fmt.Println(h.Press("yes"), sdktest.Render(h.Sent()[1]))
	// Output:
	// sdktest: no card the app sent has a button "no"
	// <nil> pressed yes
}

func ExampleHost_Handle() {
	app := passerelle.NewApp()
	app.OnMessage(func(c *passerelle.Context, ev *passerelle.Event) error {
		_, err := c.SendText(ev.Text)
		if errors.Is(err, passerelle.ErrPermissionDenied) {
			c.Log(passerelle.LevelWarn, "cannot chat: "+err.Error())
			return nil
		}
		return err
	})
	h := sdktest.New(app)
	h.Handle("chat.send", func(req []byte) (any, error) {
		return nil, &passerelle.Error{Status: passerelle.StatusPermissionDenied, Message: "add \"chat\" to the manifest"}
	})
	fmt.Println(h.Message("hi"))
	fmt.Println(h.Logs()[0].Message)
	c := h.Calls()[0]
	fmt.Println(c.Op, c.Request, c.Status)
	// Output:
	// <nil>
	// cannot chat: chat.send: permission_denied: add "chat" to the manifest
	// chat.send {"text":"hi"} permission_denied
}

// ExampleHost_Consent plays a person who is asked for their name, grants
// it, and the app carrying on by itself on the consent event.
func ExampleHost_Consent() {
	greet := func(c *passerelle.Context, ev *passerelle.Event) error {
		p, err := c.Profile(passerelle.FieldName)
		if errors.Is(err, passerelle.ErrConsentRequired) {
			_, err = c.SendText("May I know your name? Please answer the prompt.")
			return err
		}
		if err != nil {
			return err
		}
		_, err = c.SendText("Hello " + p.Name)
		return err
	}
	app := passerelle.NewApp().OnOpen(greet)
	app.OnConsent(func(c *passerelle.Context, ev *passerelle.Event) error {
		if !ev.Consent.Granted {
			_, err := c.SendText("Hello, whoever you are")
			return err
		}
		return greet(c, ev)
	})
	h := sdktest.New(app)
	granted := false
	h.Handle("identity.profile", func(req []byte) (any, error) {
		if !granted {
			return nil, &passerelle.Error{Status: passerelle.StatusConsentRequired, Message: "a consent prompt was sent"}
		}
		return passerelle.Profile{User: "u1", Name: "Alice"}, nil
	})
	_ = h.Open()
	granted = true // the person grants in the platform's prompt
	_ = h.Consent(passerelle.Consent{Prompt: "cp_1", Scopes: []string{"identity.profile"}, Granted: true})
	for _, m := range h.Sent() {
		fmt.Println(m.Text)
	}
	// Output:
	// May I know your name? Please answer the prompt.
	// Hello Alice
}
