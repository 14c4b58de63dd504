package convlog

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/passerelle/passerelle/host"
)

// The hand-written encoding of a text message record is byte for byte what
// encoding/json writes, and reads back as the message.
func FuzzEncodeRecord(f *testing.F) {
	f.Add(int64(1700000000000), "person", "alice", "Alice", "hi", "c1", "web", "")
	f.Add(int64(-1), "app", "lunch", "", "", "", "", "msg_abc")
	f.Add(int64(5), "person", "<b>", "Zoë & co", "line\nbreak \u2028 \\ \x00", "id\t1", "whatsapp", "<&>")
	f.Add(int64(0), "person", "bob", "Bob", "\xff invalid utf-8", "\x7f", "instagram", "\xff")
	f.Fuzz(func(t *testing.T, tm int64, kind, id, name, text, cid, sf, mid string) {
		m := &Message{ID: mid, Time: tm, From: Sender{Kind: kind, ID: id, Name: name},
			Msg: host.Message{Text: text}, Client: cid, Surface: sf}
		got, err := encodeRecord(m)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := json.Marshal(m)
		if !bytes.Equal(got, want) {
			t.Fatalf("record\n got %s\nwant %s", got, want)
		}
	})
}
