package gateway

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"unicode/utf8"

	"github.com/passerelle/passerelle/gateway/surface"
	"github.com/passerelle/passerelle/host"
)

// The hand-written encodings of text message frames are byte for byte what
// encoding/json writes.
func FuzzEncodeTextMessage(f *testing.F) {
	f.Add("d_x", uint64(1), int64(1700000000000), "person", "alice", "Alice", "hi", "c1", "web", "")
	f.Add("", uint64(0), int64(-1), "app", "lunch", "", "", "", "", "msg_abc")
	f.Add("g_\"q\"", ^uint64(0), int64(5), "person", "<b>", "Zoë & co", "line\nbreak \u2028 \\ \x00", "id\t1", "whatsapp", "<&>")
	f.Add("d_y", uint64(9), int64(0), "person", "bob", "Bob", "\xff invalid utf-8", "\x7f", "instagram", "\xff")
	f.Fuzz(func(t *testing.T, conv string, seq uint64, tm int64, kind, id, name, text, cid, sf, mid string) {
		m := &msgRecord{Seq: seq, ID: mid, Time: tm, From: sender{Kind: kind, ID: id, Name: name},
			Msg: host.Message{Text: text}, Client: cid, Surface: sf}
		for _, s := range surface.All() {
			got := encodeMsg(conv, m, s)
			want, _ := json.Marshal(msgFrame{Type: "msg", Conv: conv, Seq: m.Seq, ID: m.ID, Time: m.Time, From: m.From,
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

// Where decodeFlat accepts a frame, encoding/json decodes the same Frame.
func FuzzDecodeFlat(f *testing.F) {
	for _, s := range []string{
		`{"type":"send","id":"1","conv":"d_x","text":"hi"}`,
		`{"type":"send","id":"1","to":"bob","text":"Zoë <3 & co"}`,
		`{"text":"a","type":"send","text":"b"}`,
		`{"Type":"send"}`, `{"type":"send" }`, `{"type":"a\\"b"}`, `{"type":"hello","v":1}`,
		`{}`, `{"type":"send",}`, `{"type":"x"}x}`, `{"id":"\u00e9"}`, `{"type":"x"}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if !utf8.Valid(data) {
			return // ParseFrame refuses it before decoding
		}
		var got Frame
		if !decodeFlat(data, &got) {
			return
		}
		var want Frame
		if err := json.Unmarshal(data, &want); err != nil {
			t.Fatalf("decodeFlat accepted %q, encoding/json refuses it: %v", data, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%q:\n got %+v\nwant %+v", data, got, want)
		}
	})
}
