//go:build wasip1

// Command clockapp is the replay tests' mini-app: it answers every message
// with the time it reads and a random number it draws, so that a replay
// shows whether both come back the same. Built by the tests
// (replay_test.go, buildClockApp) with -ldflags "-X main.variant=V":
// "" answers "at T rand R said X", "loud" answers "AT T RAND R SAID X",
// "trap" panics on every message.
package main

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"strings"
	"time"

	passerelle "github.com/passerelle/passerelle/sdk/go"
)

var variant string

func init() {
	app := passerelle.NewApp()
	app.OnMessage(func(c *passerelle.Context, ev *passerelle.Event) error {
		if variant == "trap" {
			panic("clockapp: trap variant")
		}
		var b [8]byte
		rand.Read(b[:])
		text := fmt.Sprintf("at %d rand %d said %s", time.Now().UnixNano(), binary.LittleEndian.Uint64(b[:]), ev.Text)
		if variant == "loud" {
			text = strings.ToUpper(text)
		}
		_, err := c.SendText(text)
		return err
	})
	passerelle.Serve(app)
}

func main() {}
