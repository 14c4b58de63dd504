//go:build wasip1

// Echo is the smallest Passerelle mini-app: it repeats what people say, and
// shows a menu card with buttons when opened or when someone types "menu".
//
// Build it with
//
//	passerelle app build miniapps/echo
//
// and try it in a terminal with
//
//	passerelle dev miniapps/echo
package main

import (
	"strconv"
	"strings"

	passerelle "github.com/passerelle/passerelle/sdk/go"
)

func init() {
	app := passerelle.NewApp()
	app.OnOpen(onOpen)
	app.OnMessage(onMessage)
	app.OnAction(onAction)
	passerelle.Serve(app)
}

// main is never run: the platform loads echo as a reactor module.
func main() {}

var menu = passerelle.Card{
	Title: "Echo",
	Text:  "Send me anything and I will say it back.",
	Buttons: []passerelle.Button{
		{ID: "hello", Title: "Say hello"},
		{ID: "shout", Title: "Shout", Value: "hello there"},
		{ID: "help", Title: "Help"},
	},
}

func onOpen(c *passerelle.Context, ev *passerelle.Event) error {
	_, err := c.SendCard(menu)
	return err
}

func onMessage(c *passerelle.Context, ev *passerelle.Event) error {
	text := strings.TrimSpace(ev.Text)
	if strings.EqualFold(text, "menu") {
		_, err := c.SendCard(menu)
		return err
	}
	if text == "" {
		text = "(nothing)"
	}
	_, err := c.SendText("echo: " + text)
	return err
}

func onAction(c *passerelle.Context, ev *passerelle.Event) error {
	var reply string
	switch ev.Action.ID {
	case "hello":
		reply = "Hello, " + ev.User + "!"
	case "shout":
		reply = strings.ToUpper(ev.Action.Value) + "!"
	case "help":
		reply = `Type anything and I repeat it. Type "menu" to see the buttons again.`
	default:
		c.Log(passerelle.LevelWarn, "unknown button "+strconv.Quote(ev.Action.ID))
		reply = `I do not know that button. Type "menu" to see the buttons again.`
	}
	_, err := c.SendText(reply)
	return err
}
