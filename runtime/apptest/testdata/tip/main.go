//go:build wasip1

// Tip is the app runtime/apptest tests itself with. Rebuild happens in the
// tests (apptest.Build); by hand: passerelle app build runtime/apptest/testdata/tip
package main

import (
	"errors"
	"time"

	passerelle "github.com/passerelle/passerelle/sdk/go"
)

func init() {
	app := passerelle.NewApp()
	app.OnOpen(func(c *passerelle.Context, ev *passerelle.Event) error {
		_, err := c.SendCard(passerelle.Card{
			Title:   "Tip jar",
			Buttons: []passerelle.Button{{ID: "tip", Title: "Tip 3 €", Value: "300"}},
		})
		return err
	})
	app.OnMessage(func(c *passerelle.Context, ev *passerelle.Event) error {
		if ev.Text == "more" {
			_, err := c.SendCard(passerelle.Card{
				Title: "More",
				List:  &passerelle.List{Items: []passerelle.ListItem{{ID: "later", Title: "Remind me"}, {ID: "name", Title: "Who am I?"}}},
			})
			return err
		}
		_, err := c.SendText("you said " + ev.Text)
		return err
	})
	app.OnAction(func(c *passerelle.Context, ev *passerelle.Event) error {
		switch ev.Action.ID {
		case "tip":
			if ev.Action.Value != "300" {
				return errors.New("tip without its value")
			}
			o, err := c.RequestPayment(passerelle.PaymentRequest{Amount: 300, Currency: "EUR", Description: "tip", IdempotencyKey: ev.ID})
			if err != nil {
				return err
			}
			_, err = c.SendText("please confirm " + o.Order)
			return err
		case "later":
			_, err := c.After(time.Minute, map[string]string{"what": "reminder"})
			return err
		case "name":
			p, err := c.Profile(passerelle.FieldName)
			if errors.Is(err, passerelle.ErrConsentRequired) {
				_, err = c.SendText("may I know your name?")
				return err
			} else if err != nil {
				return err
			}
			_, err = c.SendText("hello " + p.Name)
			return err
		}
		c.Log(passerelle.LevelWarn, "unknown action "+ev.Action.ID)
		return errors.New("unknown action")
	})
	app.OnPayment(func(c *passerelle.Context, ev *passerelle.Event) error {
		_, err := c.SendText("tip " + ev.Payment.Status)
		return err
	})
	app.OnConsent(func(c *passerelle.Context, ev *passerelle.Event) error {
		if !ev.Consent.Granted {
			_, err := c.SendText("no name then (" + ev.Consent.Prompt + ")")
			return err
		}
		p, err := c.Profile(passerelle.FieldName)
		if err != nil {
			return err
		}
		_, err = c.SendText("hello " + p.Name + " in " + ev.Conversation)
		return err
	})
	app.OnTimer(func(c *passerelle.Context, ev *passerelle.Event) error {
		_, err := c.SendText("timer " + string(ev.Timer.Payload))
		return err
	})
	passerelle.Serve(app)
}

func main() {}
