package passerelle

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// stdMarshal is what encoding/json writes with HTML escaping off.
func stdMarshal(t testing.TB, v any) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

func TestAppendMessageMatchesEncodingJSON(t *testing.T) {
	tests := []struct {
		name string
		m    Message
	}{
		{"empty", Message{}},
		{"text", Message{Text: "hello"}},
		{"escapes", Message{Text: "q\" b\\ n\n r\r t\t \x00\x1f \b\f <>& \u2028\u2029 é ☕ 😀"}},
		{"invalid utf-8", Message{Text: "a\xffb\xc3(c\xed\xa0\x80"}},
		{"full card", Message{Text: "t", Card: &Card{
			Title: "T", Text: "x", Image: "https://x/y.png",
			Buttons: []Button{{ID: "b", Title: "B", Value: "v"}, {ID: "", Title: ""}},
			List:    &List{Button: "Pick", Items: []ListItem{{ID: "i", Title: "I", Description: "d"}, {}}},
			Form:    &Form{ID: "f", Submit: "Go", Fields: []FormField{{Name: "n", Label: "N", Type: "number", Required: true}, {}}},
			Share:   &Share{App: "shop", Payload: "p"},
		}}},
		{"nil slices", Message{Card: &Card{List: &List{}, Form: &Form{}, Share: &Share{}}}},
		{"empty slices", Message{Card: &Card{Buttons: []Button{}, List: &List{Items: []ListItem{}}, Form: &Form{Fields: []FormField{}}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(tt.m.appendJSON(nil))
			if want := stdMarshal(t, &tt.m); got != want {
				t.Fatalf("got  %s\nwant %s", got, want)
			}
		})
	}
}

// TestLongStrings moves each special byte through every offset of a long
// string, covering the 16- and 8-byte scanning steps.
func TestLongStrings(t *testing.T) {
	for _, special := range []string{"\"", "\\", "\n", "\x01", "é", "\xff", "\u2028"} {
		for at := 0; at < 40; at++ {
			text := strings.Repeat("a", at) + special + strings.Repeat("b", 40-at)
			m := Message{Text: text}
			enc := string(m.appendJSON(nil))
			if want := stdMarshal(t, &m); enc != want {
				t.Fatalf("encode %q: got %s want %s", text, enc, want)
			}
			in := []byte(`{"type":"message","text":` + string(appendString(nil, text)) + `}`)
			var got, want Event
			if err := decodeEventJSON(in, &got, &Event{}, false); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(in, &want); err != nil {
				t.Fatal(err)
			}
			if got.Text != want.Text {
				t.Fatalf("decode %s: got %q want %q", enc, got.Text, want.Text)
			}
		}
	}
}

func FuzzAppendMessage(f *testing.F) {
	f.Add("hello", "title", "btn", "v", "item", true)
	f.Add("\u2028<&>\x00", "\xff", "\"", "\\", "é", false)
	f.Fuzz(func(t *testing.T, text, title, id, value, item string, card bool) {
		m := Message{Text: text}
		if card {
			m.Card = &Card{Title: title, Text: text, Buttons: []Button{{ID: id, Title: title, Value: value}},
				List: &List{Button: value, Items: []ListItem{{ID: id, Title: item, Description: value}}},
				Form: &Form{ID: id, Fields: []FormField{{Name: id, Label: item, Type: value, Required: value != ""}}, Submit: title}}
		}
		got := string(m.appendJSON(nil))
		if want := stdMarshal(t, &m); got != want {
			t.Fatalf("got  %s\nwant %s", got, want)
		}
		if !json.Valid([]byte(got)) {
			t.Fatalf("invalid JSON %s", got)
		}
	})
}

func TestDecodeEventMatchesEncodingJSON(t *testing.T) {
	tests := []string{
		`{"v":1,"type":"message","id":"e","app":"a","conversation":"c","user":"u","surface":"s","text":"hi"}`,
		`{"type":"action","action":{"id":"f","value":"v","fields":{"a":"1","b":null}},"action":{"value":"w","fields":{"c":"3"}}}`,
		`{"type":"payment","payment":{"order":"o","status":"paid","amount":-1250,"currency":"EUR","refunded":0,"idempotency_key":"k","reason":"r"}}`,
		`{"type":"timer","timer":{"id":"t","payload":{"a":[1,2.5e3,true,false,null,"x\u00e9"]}}}`,
		`{"type":"timer","timer":{"payload":null}}`,
		`{"type":"x","text":"\ud83d\ude00 \ud800 \u00e9\n\t\"\\\/ \ud800\u0041","extra":{"deep":[[[{}]]]},"n":-0.5e-3}`,
		` { "type" : "open" , "text" : null , "action" : null } `,
		"{\"type\":\"x\",\"text\":\"a\xffb\"}",
		`{"type":"consent","consent":{"prompt":"cp_1","scopes":["identity.profile","identity.phone"],"granted":true}}`,
		`{"type":"consent","consent":{"prompt":"cp_2","scopes":[],"granted":false,"later":[1]}}`,
		`{"type":"consent","consent":{"scopes":null,"granted":null}}`,
		`{"type":"consent","consent":{"scopes":["a","b"],"granted":true},"consent":{"scopes":[null],"granted":null}}`,
		`{"type":"consent","consent":{"scopes":["a","b"]},"consent":{"scopes":["c"]},"consent":{"scopes":["x",null]}}`,
		`{"type":"consent","consent":{"scopes":[ "a" , "b" ]},"consent":null}`,
		// The platform's own form, which eventHead decodes, and near misses.
		`{"v":1,"type":"message","id":"ev1","app":"echo","conversation":"c1","user":"u_42","surface":"web","text":"hello"}`,
		`{"v":1,"type":"message","id":"ev1","app":"echo","conversation":"c1","user":"u_42","surface":"web","text":"hello there, a longer text"}`,
		`{"v":1,"type":"message","id":"","app":"","conversation":"","user":"","surface":"","text":""}`,
		`{"v":1,"type":"open","id":"e","app":"a"}`,
		`{"v":1,"type":"open","id":"e","app":"a","surface":"web"}`,
		`{"v":1,"type":"open","id":"e","app":"a","user":"u","text":"payload"}`,
		`{"v":1,"type":"message","id":"e","app":"a","text":"caf\u00e9 \"q\""}`,
		`{"v":1,"type":"message","id":"e","app":"a","text":"café"}`,
		`{"v":1,"type":"message","id":"e","app":"a","user":"u","user":"w","text":"a","text":"b"}`,
		`{"v":1,"type":"action","id":"e","app":"a","conversation":"c","action":{"id":"b","value":"v"}}`,
		`{"v":1,"type":"message","id":"e","conversation":"c","app":"a"}`,
		`{"v":1,"type":"message","id":"e","app":"a","conversationX":"c"}`,
		`{"v":1,"type":"message","id":"e","app":"a","conversation":"c" }`,
		`{"v":1,"type":"message","ids":"e","app":"a"}`,
		`{"v":1,"type":"message"}`,
		`{"v":1,"type":"x\"y","id":"e"}`,
		`{"v":1,"type":""}`,
		`{"v":12,"type":"message"}`,
	}
	for _, in := range tests {
		for _, shared := range []bool{false, true} {
			t.Run(in, func(t *testing.T) {
				var want, got Event
				if err := json.Unmarshal([]byte(in), &want); err != nil {
					t.Fatal(err)
				}
				if err := decodeEventJSON([]byte(in), &got, &Event{Type: "x", App: "a"}, shared); err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("shared=%v\ngot  %+v\nwant %+v", shared, got, want)
				}
			})
		}
	}
	bad := []string{``, `{`, `{"type":}`, `{"type":"x",}`, `{"type":"x"} x`, `{"v":1.5}`, `{"v":01}`, `{"text":5}`,
		`{"action":"x"}`, `{"a":tru}`, `{"a":"\x"}`, `{"a":"\u12"}`, "{\"a\":\"\x01\"}", `{"a":[1,]}`, `[1]`, `{"payment":{"amount":1e2}}`,
		`{"payment":{"amount":99999999999999999999}}`,
		`{"consent":{"granted":"yes"}}`, `{"consent":{"granted":tru}}`, `{"consent":{"scopes":"a"}}`, `{"consent":{"scopes":[1]}}`,
		`{"consent":{"scopes":["a",]}}`, `{"consent":{"scopes":["a" "b"]}}`, `{"consent":{"scopes":[`, `{"consent":[]}`,
		`{"v":1,"type":"message","id":"e","app":"a"`, `{"v":1,"type":"message","id":"e","app":"a",}`, `{"v":1,"type":"message","id":"e","app":"a`,
		`{"v":1,"type":"message","id":"e","app":"a","text":"x}`, `{"v":1,"type":"message","id":"e","app":"a"}}`, `{"v":1,"type":"`}
	for _, in := range bad {
		for _, shared := range []bool{false, true} {
			t.Run("bad "+in, func(t *testing.T) {
				var ev Event
				if err := decodeEventJSON([]byte(in), &ev, &Event{}, shared); err == nil {
					t.Fatalf("shared=%v: accepted %q", shared, in)
				}
			})
		}
	}
}

// FuzzDecodeEvent checks the hand-written decoder against encoding/json: it
// accepts what encoding/json accepts and decodes the same values. Inputs with
// upper-case letters or non-ASCII bytes are only checked for acceptance,
// since encoding/json matches keys case-insensitively and the ABI does not.
func FuzzDecodeEvent(f *testing.F) {
	f.Add([]byte(`{"v":1,"type":"message","id":"1","app":"a","text":"hi"}`))
	f.Add([]byte(`{"type":"action","action":{"id":"b","fields":{"a":"b"}}}`))
	f.Add([]byte(`{"type":"timer","timer":{"id":"t","payload":[1,{"x":null}]}}`))
	f.Add([]byte(`{"type":"payment","payment":{"amount":12,"currency":"EUR"}}`))
	f.Add([]byte(`{"type":"consent","consent":{"prompt":"cp","scopes":["identity.profile"],"granted":true}}`))
	f.Add([]byte(`{"consent":{"scopes":["a","b"]},"consent":{"scopes":["c",null],"granted":false}}`))
	f.Add([]byte(`{"v":1,"type":"message","id":"ev1","app":"echo","conversation":"c1","user":"u_42","surface":"web","text":"hello"}`))
	f.Add([]byte(`{"v":1,"type":"action","id":"e","app":"a","user":"u","action":{"id":"b"}}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		var want, got, shared Event
		stdErr := json.Unmarshal(in, &want)
		err := decodeEventJSON(in, &got, &Event{Type: "message", User: "u"}, false)
		sharedErr := decodeEventJSON(bytes.Clone(in), &shared, &Event{Type: "message", User: "u"}, true)
		if (err == nil) != (sharedErr == nil) || !reflect.DeepEqual(got, shared) {
			t.Fatalf("input %s\ncopied %+v (%v)\nshared %+v (%v)", in, got, err, shared, sharedErr)
		}
		if (stdErr == nil) != (err == nil) {
			var typeErr *json.UnmarshalTypeError
			if err != nil || !asTypeErr(stdErr, &typeErr) {
				t.Fatalf("encoding/json err %v, decoder err %v", stdErr, err)
			}
			return // encoding/json rejected a type mismatch this decoder ignores only in skipped data
		}
		if err != nil || bytes.ContainsFunc(in, func(r rune) bool { return r >= 'A' && r <= 'Z' || r > 0x7f }) {
			return
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("input %s\ngot  %+v\nwant %+v", in, got, want)
		}
	})
}

func asTypeErr(err error, target **json.UnmarshalTypeError) bool {
	e, ok := err.(*json.UnmarshalTypeError)
	if ok {
		*target = e
	}
	return ok
}

// TestDecodeEventCopies checks that decoded strings are copies unless the
// input is shared: a caller of App.Dispatch may reuse its buffer.
func TestDecodeEventCopies(t *testing.T) {
	const doc = `{"v":1,"type":"message","id":"e1","app":"echo","conversation":"c1","user":"u1","surface":"web","text":"hello","action":{"id":"b","value":"v","fields":{"k":"x"}}}`
	for _, shared := range []bool{false, true} {
		in := []byte(doc)
		var ev Event
		if err := decodeEventJSON(in, &ev, &Event{}, shared); err != nil {
			t.Fatal(err)
		}
		want := Event{V: 1, Type: "message", ID: "e1", App: "echo", Conversation: "c1", User: "u1", Surface: "web", Text: "hello",
			Action: &Action{ID: "b", Value: "v", Fields: map[string]string{"k": "x"}}}
		if !reflect.DeepEqual(ev, want) {
			t.Fatalf("shared=%v: got %+v, want %+v", shared, ev, want)
		}
		for i := range in {
			in[i] = 'z'
		}
		changed := !reflect.DeepEqual(ev, want)
		if changed != shared {
			t.Fatalf("shared=%v: strings changed with the input: %v", shared, changed)
		}
	}
}

// plainEndRef is plainEnd one byte at a time.
func plainEndRef(b []byte, i int) int {
	for ; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			return i
		case c < 0x20 || c == '\\' || c >= 0x80:
			return -1
		}
	}
	return -1
}

// FuzzPlainEnd checks the word-wise scan, including the last word of the
// input, against plainEndRef from every start offset.
func FuzzPlainEnd(f *testing.F) {
	f.Add([]byte(`{"id":"m1"}`))
	f.Add([]byte(`"text":"hello"}`))
	f.Add([]byte("abcdefgh\"ijklmnop\\qrst\x01uv\xffw\"xyz"))
	f.Fuzz(func(t *testing.T, b []byte) {
		for i := 0; i <= len(b); i++ {
			if got, want := plainEnd(b, i), plainEndRef(b, i); got != want {
				t.Fatalf("plainEnd(%q, %d) = %d, want %d", b, i, got, want)
			}
		}
	})
}

// FuzzDecodeSendResponse checks the chat.send fast path against the
// general decoder: when it accepts a document, the general decoder accepts
// it too and decodes the same id.
func FuzzDecodeSendResponse(f *testing.F) {
	for _, s := range []string{`{"id":"m1"}`, `{"id":""}`, `{"id":"a longer message id"}`, `{"id":"m1","x":1}`,
		`{"id":"m\"1"}`, `{"id":"m1"} `, `{"id":"m1"}}`, `{"id":"é"}`, `{"id":"m1"`, `{"id":"}`, `{"id":"m1}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var fast, general sendResponse
		fd := decoder{b: in, shared: true}
		if !fd.idOnly(&fast.ID) {
			return
		}
		gd := decoder{b: in}
		general.decodeJSON(&gd)
		if gd.end(); gd.err != nil || general != fast {
			t.Fatalf("%q: fast path %q, general %q (%v)", in, fast.ID, general.ID, gd.err)
		}
	})
}
