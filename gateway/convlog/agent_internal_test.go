package convlog

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/passerelle/passerelle/host"
)

// An agent's message from the merchant inbox keeps the agent's name, and
// its hand-written encoding is still what encoding/json writes.
func TestEncodeRecordAgent(t *testing.T) {
	for _, agent := range []string{"", "Ana", "Zoë \"the\" <agent>"} {
		m := &Message{ID: "msg_a", Time: 17, From: Sender{Kind: "app", ID: "support", Name: "support", Agent: agent},
			Msg: host.Message{Text: "Ana here"}, Surface: "web"}
		got, err := encodeRecord(m)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := json.Marshal(m)
		if !bytes.Equal(got, want) {
			t.Fatalf("agent %q:\n got %s\nwant %s", agent, got, want)
		}
		var back Message
		if err := json.Unmarshal(got, &back); err != nil || back.From.Agent != agent {
			t.Fatalf("agent %q read back as %q (%v)", agent, back.From.Agent, err)
		}
	}
}
