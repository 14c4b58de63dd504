package gateway

import (
	"bytes"
	"encoding/json"
	"testing"

	"passerelle/gateway/surface"
	"passerelle/host"
)

// The hand-written encodings of text messages are byte for byte what
// encoding/json writes.
func FuzzEncodeTextMessage(f *testing.F) {
	f.Add("d_x", uint64(1), int64(1700000000000), "person", "alice", "Alice", "hi", "c1", "web")
	f.Add("", uint64(0), int64(-1), "app", "lunch", "", "", "", "")
	f.Add("g_\"q\"", ^uint64(0), int64(5), "person", "<b>", "Zoë & co", "line\nbreak \u2028 \\ \x00", "id\t1", "whatsapp")
	f.Add("d_y", uint64(9), int64(0), "person", "bob", "Bob", "\xff invalid utf-8", "\x7f", "instagram")
	f.Fuzz(func(t *testing.T, conv string, seq uint64, tm int64, kind, id, name, text, cid, sf string) {
		m := &msgRecord{Seq: seq, Time: tm, From: sender{Kind: kind, ID: id, Name: name},
			Msg: host.Message{Text: text}, Client: cid, Surface: sf}
		got, err := encodeRecord(m)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := json.Marshal(m)
		if !bytes.Equal(got, want) {
			t.Fatalf("record\n got %s\nwant %s", got, want)
		}
		for _, s := range surface.All() {
			got := encodeMsg(conv, m, s)
			want, _ := json.Marshal(msgFrame{Type: "msg", Conv: conv, Seq: m.Seq, Time: m.Time, From: m.From,
				Msg: m.Msg, Render: surface.Render(s, m.Msg), CID: m.Client})
			if !bytes.Equal(got, want) {
				t.Fatalf("%s frame\n got %s\nwant %s", s, got, want)
			}
		}
		ack := encodeAckMsg(cid, conv, seq, []byte(`{}`))
		var a struct {
			Type, ID, Conv string
			Seq            uint64
		}
		if err := json.Unmarshal(ack, &a); err != nil {
			t.Fatalf("ack %s: %v", ack, err)
		}
		if a.Type != "ack" || a.Seq != seq || a.ID != viaJSON(cid) || a.Conv != viaJSON(conv) {
			t.Fatalf("ack %s: %+v", ack, a)
		}
	})
}

// viaJSON is s after encoding/json's round trip (invalid UTF-8 becomes U+FFFD).
func viaJSON(s string) string {
	b, _ := json.Marshal(s)
	_ = json.Unmarshal(b, &s)
	return s
}
