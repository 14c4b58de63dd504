package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/passerelle/passerelle/gateway"
	"github.com/passerelle/passerelle/host"
)

func TestPersonToPersonAcrossSurfaces(t *testing.T) {
	e := newEnv(t, nil)
	alice, _ := e.connect("alice", "web", nil)
	bob, _ := e.connect("bob", "whatsapp", nil)

	ack := alice.request(map[string]any{"type": "send", "id": "c1", "to": "bob", "text": "lunch?"})
	if ack["type"] != "ack" || ack["seq"] != 1.0 {
		t.Fatalf("ack = %v", ack)
	}
	conv := ack["conv"].(string)
	if f := bob.until("conv"); f["conv"].(map[string]any)["title"] != "Alice" {
		t.Fatalf("bob's conversation title = %v", f)
	}
	m := bob.until("msg")
	if m["conv"] != conv || m["seq"] != 1.0 || m["message"].(map[string]any)["text"] != "lunch?" {
		t.Fatalf("bob got %v", m)
	}
	if r := m["render"].(map[string]any); r["surface"] != "whatsapp" || r["kind"] != "text" {
		t.Fatalf("render = %v", r)
	}
	if from := m["from"].(map[string]any); from["name"] != "Alice" || from["id"] != "alice" {
		t.Fatalf("from = %v", from)
	}
	ack = bob.request(map[string]any{"type": "send", "id": "b1", "conv": conv, "text": "yes"})
	if ack["seq"] != 2.0 {
		t.Fatalf("bob's ack %v", ack)
	}
	if m := alice.until("msg"); m["seq"] != 2.0 || m["message"].(map[string]any)["text"] != "yes" {
		t.Fatalf("alice got %v", m)
	}
}

func TestResumeDeliversMissedOnceInOrder(t *testing.T) {
	e := newEnv(t, nil)
	alice, _ := e.connect("alice", "web", nil)
	ack := alice.request(map[string]any{"type": "send", "id": "m1", "to": "bob", "text": "1"})
	conv := ack["conv"].(string)
	for i := 2; i <= 6; i++ {
		alice.request(map[string]any{"type": "send", "id": fmt.Sprint("m", i), "conv": conv, "text": fmt.Sprint(i)})
	}
	// Bob saw up to seq 2 on another device and reconnects.
	_, frames := e.connect("bob", "web", map[string]uint64{conv: 2})
	var seqs []float64
	for _, f := range frames {
		if f["type"] == "msg" {
			seqs = append(seqs, f["seq"].(float64))
		}
	}
	if fmt.Sprint(seqs) != "[3 4 5 6]" {
		t.Fatalf("replayed seqs %v, want [3 4 5 6]", seqs)
	}
	// A conversation bob never named (new while offline) is replayed whole.
	_, frames = e.connect("bob", "web", map[string]uint64{})
	seqs = nil
	for _, f := range frames {
		if f["type"] == "msg" {
			seqs = append(seqs, f["seq"].(float64))
		}
	}
	if fmt.Sprint(seqs) != "[1 2 3 4 5 6]" {
		t.Fatalf("replayed seqs %v", seqs)
	}
}

func TestResumeSurvivesRestart(t *testing.T) {
	e := newEnv(t, nil)
	alice, _ := e.connect("alice", "web", nil)
	conv := alice.request(map[string]any{"type": "send", "id": "m1", "to": "bob", "text": "before"})["conv"].(string)
	e.stop()
	e.start(nil)
	alice, _ = e.connect("alice", "web", map[string]uint64{conv: 1})
	if ack := alice.request(map[string]any{"type": "send", "id": "m1", "conv": conv, "text": "before"}); ack["seq"] != 1.0 || ack["dup"] != true {
		t.Fatalf("resend after restart: %v", ack)
	}
	if ack := alice.request(map[string]any{"type": "send", "id": "m2", "conv": conv, "text": "after"}); ack["seq"] != 2.0 {
		t.Fatalf("seq after restart: %v", ack)
	}
	_, frames := e.connect("bob", "web", map[string]uint64{conv: 0})
	var texts []string
	for _, f := range frames {
		if f["type"] == "msg" {
			texts = append(texts, f["message"].(map[string]any)["text"].(string))
		}
	}
	if strings.Join(texts, ",") != "before,after" {
		t.Fatalf("texts %v", texts)
	}
}

func TestResentClientIDIsNotDuplicated(t *testing.T) {
	e := newEnv(t, nil)
	alice, _ := e.connect("alice", "web", nil)
	first := alice.request(map[string]any{"type": "send", "id": "same", "to": "bob", "text": "once"})
	// Reconnect (as after a lost ack) and resend.
	alice2, _ := e.connect("alice", "web", map[string]uint64{first["conv"].(string): 1})
	again := alice2.request(map[string]any{"type": "send", "id": "same", "conv": first["conv"], "text": "once"})
	if again["seq"] != first["seq"] || again["dup"] != true {
		t.Fatalf("resend ack %v, first %v", again, first)
	}
	next := alice2.request(map[string]any{"type": "send", "id": "other", "conv": first["conv"], "text": "twice"})
	if next["seq"] != 2.0 {
		t.Fatalf("next seq %v", next)
	}
}

func TestGroup(t *testing.T) {
	e := newEnv(t, nil)
	alice, _ := e.connect("alice", "web", nil)
	bob, _ := e.connect("bob", "messenger", nil)
	carol, _ := e.connect("carol", "instagram", nil)
	ack := alice.request(map[string]any{"type": "group", "id": "g", "title": "Lunch crew", "members": []string{"bob", "carol"}})
	conv := ack["conv"].(string)
	alice.request(map[string]any{"type": "send", "id": "1", "conv": conv, "text": "noon?"})
	for _, c := range []*client{bob, carol} {
		if m := c.until("msg"); m["conv"] != conv || m["message"].(map[string]any)["text"] != "noon?" {
			t.Fatalf("got %v", m)
		}
	}
	if f := alice.request(map[string]any{"type": "group", "id": "g2", "members": []string{"nobody"}}); f["code"] != "not_found" {
		t.Fatalf("unknown member: %v", f)
	}
}

func TestNotMemberIsForbidden(t *testing.T) {
	e := newEnv(t, nil)
	alice, _ := e.connect("alice", "web", nil)
	conv := alice.request(map[string]any{"type": "send", "id": "1", "to": "bob", "text": "private"})["conv"]
	carol, _ := e.connect("carol", "web", nil)
	for _, typ := range []string{"send", "history"} {
		f := carol.request(map[string]any{"type": typ, "id": typ, "conv": conv, "text": "hi"})
		if f["type"] != "error" || f["code"] != "forbidden" {
			t.Fatalf("%s: %v", typ, f)
		}
	}
}

func TestMiniAppMenuReplyMapsToChoice(t *testing.T) {
	e := newEnv(t, nil)
	card := &host.Card{Title: "Today", Text: "Pick a dish", Buttons: []host.Button{
		{ID: "soup", Title: "Soup"}, {ID: "salad", Title: "Salad", Value: "v-salad"}, {ID: "pasta", Title: "Pasta"}, {ID: "curry", Title: "Curry"}}}
	got := make(chan host.AppEvent, 10)
	e.apps.set(func(ev host.AppEvent) *host.Message {
		if ev.Event.Type == host.EventOpen {
			return &host.Message{Card: card}
		}
		return nil
	}, got)
	bob, _ := e.connect("bob", "whatsapp", nil)
	ack := bob.request(map[string]any{"type": "open", "id": "o", "app": "lunch"})
	conv := ack["conv"].(string)
	if ev := <-got; ev.Event.Type != "open" || ev.Person != "bob" || ev.Surface != "whatsapp" || ev.Conversation != conv {
		t.Fatalf("open event %+v", ev)
	}
	m := bob.until("msg")
	r := m["render"].(map[string]any)
	if r["kind"] != "menu" || !strings.Contains(r["text"].(string), "2. Salad") {
		t.Fatalf("4 buttons on whatsapp should be a numbered menu, got %v", r)
	}
	bob.request(map[string]any{"type": "send", "id": "r", "conv": conv, "text": "2"})
	ev := <-got
	if ev.Event.Type != "action" || ev.Event.Action == nil || ev.Event.Action.ID != "salad" || ev.Event.Action.Value != "v-salad" {
		t.Fatalf("reply 2 gave %+v", ev.Event)
	}
	bob.request(map[string]any{"type": "send", "id": "r2", "conv": conv, "text": "hello"})
	if ev := <-got; ev.Event.Type != "message" || ev.Event.Text != "hello" {
		t.Fatalf("text gave %+v", ev.Event)
	}
	// The same card renders natively for a web person.
	alice, _ := e.connect("alice", "web", nil)
	alice.request(map[string]any{"type": "open", "id": "o", "app": "lunch"})
	<-got
	if r := alice.until("msg")["render"].(map[string]any); r["kind"] != "card" {
		t.Fatalf("web render %v", r)
	}
	alice.request(map[string]any{"type": "send", "id": "r", "conv": alice.request(map[string]any{"type": "open", "id": "o2", "app": "lunch"})["conv"], "text": "2"})
	for ev := range got {
		if ev.Event.Type == "message" {
			if ev.Event.Text != "2" {
				t.Fatalf("web text %+v", ev.Event)
			}
			break
		}
	}
}

func TestPromptPersistedUntilAnswered(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	body := `{"type":"payment","order":"ord_1","amount":1250,"currency":"EUR","description":"Lunch","merchant":"m","app":"lunch"}`
	if err := e.srv.Emit(ctx, e.prompt("payment", "pay_ord_1", "alice", body)); err != nil {
		t.Fatal(err)
	}
	// Bob never sees alice's prompt.
	_, frames := e.connect("bob", "web", nil)
	for _, f := range frames {
		if f["type"] == "prompt" {
			t.Fatalf("bob saw %v", f)
		}
	}
	alice, frames := e.connect("alice", "web", nil)
	var prompt map[string]any
	for _, f := range frames {
		if f["type"] == "prompt" {
			prompt = f["prompt"].(map[string]any)
		}
	}
	if prompt == nil || prompt["id"] != "pay_ord_1" || prompt["type"] != "payment" {
		t.Fatalf("alice's prompt: %v", frames)
	}
	bob, _ := e.connect("bob", "web", nil)
	if f := bob.request(map[string]any{"type": "answer", "id": "a", "prompt": "pay_ord_1", "answer": "confirm"}); f["code"] != "forbidden" {
		t.Fatalf("bob answering: %v", f)
	}
	if f := alice.request(map[string]any{"type": "answer", "id": "a", "prompt": "pay_ord_1", "answer": "grant"}); f["code"] != "bad_request" {
		t.Fatalf("wrong answer kind: %v", f)
	}
	if f := alice.request(map[string]any{"type": "answer", "id": "a2", "prompt": "pay_ord_1", "answer": "confirm"}); f["type"] != "ack" {
		t.Fatalf("confirm: %v", f)
	}
	if fmt.Sprint(e.pay.calls) != "[confirm alice ord_1]" {
		t.Fatalf("payments saw %v", e.pay.calls)
	}
	if f := alice.request(map[string]any{"type": "answer", "id": "a3", "prompt": "pay_ord_1", "answer": "confirm"}); f["code"] != "bad_request" {
		t.Fatalf("second confirm: %v", f)
	}
	_, frames = e.connect("alice", "web", nil)
	for _, f := range frames {
		if f["type"] == "prompt" {
			t.Fatalf("answered prompt shown again: %v", f)
		}
	}
	// Consent prompts go to Consent with the surface.
	cb := `{"type":"consent","app":"lunch","scopes":["identity.profile"],"id":"cp_9"}`
	if err := e.srv.Emit(ctx, e.prompt("consent", "cp_9", "alice", cb)); err != nil {
		t.Fatal(err)
	}
	if p := alice.until("prompt")["prompt"].(map[string]any); p["id"] != "cp_9" {
		t.Fatalf("consent prompt %v", p)
	}
	alice.request(map[string]any{"type": "answer", "id": "c", "prompt": "cp_9", "answer": "grant"})
	if fmt.Sprint(e.cons.calls) != "[grant alice cp_9 web]" {
		t.Fatalf("consent saw %v", e.cons.calls)
	}
}

func TestMalformedFramesKeepConnection(t *testing.T) {
	e := newEnv(t, nil)
	alice, _ := e.connect("alice", "web", nil)
	tests := []struct {
		name, frame, code string
	}{
		{"not json", `{"type":`, "bad_frame"},
		{"not an object", `[1,2]`, "bad_frame"},
		{"bad utf8", "{\"type\":\"send\",\"text\":\"\xff\"}", "bad_frame"},
		{"no type", `{"id":"x"}`, "bad_request"},
		{"unknown type", `{"type":"teleport","id":"x"}`, "unknown_type"},
		{"send without text", `{"type":"send","id":"x","to":"bob"}`, "bad_request"},
		{"send to nobody", `{"type":"send","id":"x","to":"zed","text":"hi"}`, "not_found"},
		{"unknown conv", `{"type":"send","id":"x","conv":"d_nope","text":"hi"}`, "not_found"},
		{"second hello", `{"type":"hello","v":1,"id":"x"}`, "bad_request"},
		{"long text", `{"type":"send","id":"x","to":"bob","text":"` + strings.Repeat("a", 4097) + `"}`, "bad_request"},
		{"no answer", `{"type":"answer","id":"x","prompt":"p","answer":""}`, "bad_request"},
		{"answer to no prompt", `{"type":"answer","id":"x","prompt":"p","answer":"maybe"}`, "not_found"},
		{"unknown app", `{"type":"open","id":"x","app":"casino"}`, "not_found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := alice.ws.WriteMessage(websocket.TextMessage, []byte(tt.frame)); err != nil {
				t.Fatal(err)
			}
			f := alice.until("error")
			if f["code"] != tt.code || f["message"] == "" {
				t.Fatalf("got %v, want code %s", f, tt.code)
			}
		})
	}
	if f := alice.request(map[string]any{"type": "send", "id": "ok", "to": "bob", "text": "still here"}); f["type"] != "ack" {
		t.Fatalf("connection did not survive: %v", f)
	}
}

func TestHandshakeRefusals(t *testing.T) {
	e := newEnv(t, func(c *gateway.Config) { c.AllowedOrigins = []string{"https://chat.example.com"} })
	url := "ws" + strings.TrimPrefix(e.http.URL, "http") + "/ws"
	tests := []struct {
		name   string
		query  string
		header http.Header
		status int
		code   string
	}{
		{"no token", "", nil, 401, "unauthorized"},
		{"bad token", "?token=forged", nil, 401, "unauthorized"},
		{"merchant token", "?token=merchant-acme", nil, 403, "forbidden"},
		{"foreign origin", "?token=tok-alice", http.Header{"Origin": {"https://evil.example"}}, 403, "forbidden"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, resp, err := websocket.DefaultDialer.Dial(url+tt.query, tt.header)
			if err == nil || resp == nil {
				t.Fatalf("dial succeeded or no response: %v", err)
			}
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status || !strings.Contains(string(body), `"code":"`+tt.code+`"`) {
				t.Fatalf("status %d body %s", resp.StatusCode, body)
			}
		})
	}
	ok := []struct {
		name   string
		query  string
		header http.Header
	}{
		{"allowed origin", "?token=tok-alice", http.Header{"Origin": {"https://chat.example.com"}}},
		{"bearer header", "", http.Header{"Authorization": {"Bearer tok-alice"}}},
		{"subprotocol", "", http.Header{"Sec-WebSocket-Protocol": {"passerelle.v1, bearer.tok-alice"}}},
	}
	for _, tt := range ok {
		t.Run(tt.name, func(t *testing.T) {
			ws, _, err := websocket.DefaultDialer.Dial(url+tt.query, tt.header)
			if err != nil {
				t.Fatal(err)
			}
			ws.Close()
		})
	}
}

func TestFatalHelloErrorsClose(t *testing.T) {
	e := newEnv(t, nil)
	tests := []struct {
		name, frame string
		close       int
	}{
		{"not hello first", `{"type":"send","id":"1","to":"bob","text":"x"}`, websocket.CloseProtocolError},
		{"wrong version", `{"type":"hello","v":2}`, 4000},
		{"unknown surface", `{"type":"hello","v":1,"surface":"telegram"}`, websocket.CloseProtocolError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _, err := e.dial("tok-alice")
			if err != nil {
				t.Fatal(err)
			}
			c.ws.WriteMessage(websocket.TextMessage, []byte(tt.frame))
			var ce *websocket.CloseError
			for {
				_ = c.ws.SetReadDeadline(time.Now().Add(time.Minute))
				_, _, err := c.ws.ReadMessage()
				if err != nil {
					if !asClose(err, &ce) || ce.Code != tt.close {
						t.Fatalf("closed with %v, want %d", err, tt.close)
					}
					return
				}
			}
		})
	}
}

func asClose(err error, ce **websocket.CloseError) bool {
	e, ok := err.(*websocket.CloseError)
	*ce = e
	return ok
}

func TestSlowConsumerIsDisconnected(t *testing.T) {
	e := newEnv(t, func(c *gateway.Config) { c.SendQueue = 8; c.PingInterval = time.Minute })
	alice, _ := e.connect("alice", "web", nil)
	alice.request(map[string]any{"type": "send", "id": "0", "to": "bob", "text": "x"})
	alice.ws.Close()
	bob, _ := e.connect("bob", "web", nil) // never reads from here on
	big := strings.Repeat("z", 64<<10)
	ctx := context.Background()
	// Prompts, not an app's messages: those never close a connection
	// (TestAppFloodOpensAGapNotASlowConsumer).
	body, _ := json.Marshal(map[string]any{"type": "consent", "text": big})
	for i := 0; i < 200; i++ {
		if err := e.srv.Emit(ctx, e.prompt("consent", fmt.Sprint("slow", i), "bob", string(body))); err != nil {
			t.Fatal(err)
		}
	}
	for {
		_ = bob.ws.SetReadDeadline(time.Now().Add(time.Minute))
		if _, _, err := bob.ws.ReadMessage(); err != nil {
			// The close frame says slow_consumer when the socket had room
			// for it; a peer that reads nothing sees the connection drop.
			var ce *websocket.CloseError
			if asClose(err, &ce) && ce.Code != 4008 && ce.Code != websocket.CloseAbnormalClosure {
				t.Fatalf("bob ended with %v", err)
			}
			break
		}
	}
	// The server counts the slow consumer just after it ends the
	// connection, so the count may follow what bob saw by a moment.
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
		resp, err := http.Get(e.http.URL + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(b), "passerelle_gateway_slow_consumers_total 1") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("metrics lack the slow consumer:\n%s", b)
		}
	}
}

func TestRateLimit(t *testing.T) {
	// Practically no refill: however slowly the server reads the six
	// frames, those past the burst are refused (at one a second, a
	// server slowed for seconds had tokens again).
	e := newEnv(t, func(c *gateway.Config) { c.RatePerSecond = 0.001; c.RateBurst = 3 })
	alice, _ := e.connect("alice", "web", nil)
	for i := 0; i < 6; i++ {
		alice.send(map[string]any{"type": "conversations", "id": fmt.Sprint(i)})
	}
	// Each frame gets one answer: its reply, or rate_limited naming it.
	limited := 0
	answered := map[string]bool{}
	for i := 0; i < 6; i++ {
		f := alice.next()
		id, _ := f["id"].(string)
		if id == "" || answered[id] {
			t.Fatalf("answer %v does not name a frame not yet answered (answered: %v)", f, answered)
		}
		answered[id] = true
		if f["code"] == "rate_limited" {
			limited++
		}
	}
	if limited < 2 {
		t.Fatalf("%d frames rate limited, want at least 2", limited)
	}
}

func TestTooLargeFrameCloses(t *testing.T) {
	for _, size := range []int{2000, 4 << 20} { // in the server's read buffer; far past it, still being sent
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			e := newEnv(t, func(c *gateway.Config) { c.MaxFrameBytes = 1024 })
			alice, _ := e.connect("alice", "web", nil)
			go alice.ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"send","to":"bob","text":"`+strings.Repeat("a", size)+`"}`))
			for {
				_ = alice.ws.SetReadDeadline(time.Now().Add(time.Minute))
				if _, _, err := alice.ws.ReadMessage(); err != nil {
					var ce *websocket.CloseError
					if !asClose(err, &ce) || ce.Code != websocket.CloseMessageTooBig || !strings.HasPrefix(ce.Text, "too_large: ") || len(ce.Text) <= len("too_large: ") {
						t.Fatalf("ended with %v; want close 1009 with reason \"too_large: <message>\"", err)
					}
					return
				}
			}
		})
	}
}

func TestRequests(t *testing.T) {
	e := newEnv(t, nil)
	alice, _ := e.connect("alice", "web", nil)
	tests := []struct {
		frame map[string]any
		typ   string
		want  string
	}{
		{map[string]any{"type": "people", "id": "p", "query": "bo"}, "people", `"name":"Bob"`},
		{map[string]any{"type": "apps", "id": "a"}, "apps", `"id":"lunch"`},
		{map[string]any{"type": "wallet", "id": "w"}, "wallet", `"balances":[{"amount":100,"currency":"CHF"},{"amount":2500,"currency":"EUR"}]`},
		{map[string]any{"type": "surface", "id": "s", "surface": "instagram"}, "ack", `"id":"s"`},
		{map[string]any{"type": "conversations", "id": "c"}, "conversations", `"conversations"`},
	}
	for _, tt := range tests {
		t.Run(tt.typ, func(t *testing.T) {
			f := alice.request(tt.frame)
			b, _ := json.Marshal(f)
			if f["type"] != tt.typ || !strings.Contains(string(b), tt.want) {
				t.Fatalf("got %s", b)
			}
			if strings.Contains(string(b), "+1555") {
				t.Fatalf("a phone number reached the client: %s", b)
			}
		})
	}
	conv := alice.request(map[string]any{"type": "send", "id": "1", "to": "bob", "text": "a"})["conv"]
	alice.request(map[string]any{"type": "send", "id": "2", "conv": conv, "text": "b"})
	h := alice.request(map[string]any{"type": "history", "id": "h", "conv": conv, "after": 1})
	msgs := h["messages"].([]any)
	if len(msgs) != 1 || msgs[0].(map[string]any)["seq"] != 2.0 || msgs[0].(map[string]any)["render"].(map[string]any)["surface"] != "instagram" {
		t.Fatalf("history %v", h)
	}
}

func TestHealthAndMetrics(t *testing.T) {
	e := newEnv(t, nil)
	e.srv.Registerer().MustRegister(promCounter())
	alice, _ := e.connect("alice", "web", nil)
	alice.request(map[string]any{"type": "send", "id": "1", "to": "bob", "text": "a"})
	for path, want := range map[string]string{
		"/healthz": `{"status":"ok"}`,
		"/metrics": "passerelle_gateway_connections 1",
		"/":        "<title>Passerelle</title>",
	} {
		resp, err := http.Get(e.http.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b), want) {
			t.Fatalf("%s: %d %s", path, resp.StatusCode, b)
		}
		if path == "/metrics" {
			for _, m := range []string{"passerelle_gateway_messages_in_total 1", "passerelle_gateway_messages_out_total", "test_other_package_total"} {
				if !strings.Contains(string(b), m) {
					t.Errorf("metrics lack %s", m)
				}
			}
		}
	}
}

func TestEmitRejectsBadOutgoing(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	tests := []host.Outgoing{
		{Conversation: "x", Message: &host.Message{}},
		{Message: &host.Message{Text: "hi"}},
		{Conversation: "x"},
		{Prompt: &host.Prompt{Kind: e.pay.kind(), Body: json.RawMessage(`{"type":"payment"}`)}},
		{Prompt: &host.Prompt{Person: "alice", Body: json.RawMessage(`{}`)}},
		{Prompt: &host.Prompt{Kind: e.pay.kind(), Person: "alice", Body: json.RawMessage(`[`)}},
	}
	for i, out := range tests {
		if err := e.srv.Emit(ctx, out); err == nil {
			t.Errorf("%d: Emit(%+v) succeeded", i, out)
		}
	}
	if err := e.srv.Emit(ctx, host.Outgoing{Conversation: "d_missing", Message: &host.Message{Text: "hi"}}); err == nil {
		t.Error("Emit into a missing conversation succeeded")
	}
}

func TestSilentPeerIsDropped(t *testing.T) {
	e := newEnv(t, func(c *gateway.Config) { c.PingInterval = 100 * time.Millisecond })
	alice, _ := e.connect("alice", "web", nil)
	alice.ws.SetPingHandler(func(string) error { return nil }) // never answers pings
	_ = alice.ws.SetReadDeadline(time.Now().Add(time.Minute))
	for {
		if _, _, err := alice.ws.ReadMessage(); err != nil {
			if ne, ok := err.(interface{ Timeout() bool }); ok && ne.Timeout() {
				t.Fatal("the server kept a peer that answers no ping")
			}
			return
		}
	}
}

func TestSharePrompt(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	alice, _ := e.connect("alice", "web", nil)
	conv := alice.request(map[string]any{"type": "send", "id": "1", "to": "bob", "text": "hi"})["conv"].(string)
	body := `{"type":"share","id":"sh_1","app":"lunch","card":{"title":"Lunch","share":{"app":"lunch","payload":"menu"}}}`
	if err := e.srv.Emit(ctx, e.prompt("share", "sh_1", "alice", body)); err != nil {
		t.Fatal(err)
	}
	alice.until("prompt")
	carolConv := ""
	carol, _ := e.connect("carol", "web", nil)
	carolConv = carol.request(map[string]any{"type": "send", "id": "1", "to": "bob", "text": "yo"})["conv"].(string)
	if f := alice.request(map[string]any{"type": "answer", "id": "x", "prompt": "sh_1", "answer": "share", "conv": carolConv}); f["code"] != "forbidden" {
		t.Fatalf("sharing into someone else's conversation: %v", f)
	}
	if f := alice.request(map[string]any{"type": "answer", "id": "a", "prompt": "sh_1", "answer": "share", "conv": conv}); f["type"] != "ack" {
		t.Fatalf("share: %v", f)
	}
	h := alice.request(map[string]any{"type": "history", "id": "h", "conv": conv, "after": 1})
	msgs := h["messages"].([]any)
	if len(msgs) != 1 {
		t.Fatalf("history after share: %v", h)
	}
	m := msgs[0].(map[string]any)
	if m["conv"] != conv || m["from"].(map[string]any)["kind"] != "app" || m["message"].(map[string]any)["card"].(map[string]any)["share"] == nil {
		t.Fatalf("shared card: %v", m)
	}
	for _, tt := range []struct {
		conv, person string
		want         bool
	}{{conv, "alice", true}, {conv, "bob", true}, {conv, "carol", false}, {"d_nope", "alice", false}} {
		if got, err := e.srv.IsMember(ctx, tt.conv, tt.person); err != nil || got != tt.want {
			t.Errorf("IsMember(%s, %s) = %v, %v", tt.conv, tt.person, got, err)
		}
	}
}

func TestEvictedConversationStateIsRebuilt(t *testing.T) {
	e := newEnv(t, func(c *gateway.Config) { c.MaxConversations = 1 })
	alice, _ := e.connect("alice", "web", nil)
	convs := map[string]string{}
	for round := 1; round <= 3; round++ {
		for _, to := range []string{"bob", "carol"} {
			ack := alice.request(map[string]any{"type": "send", "id": fmt.Sprint(to, round), "to": to, "text": "x"})
			if ack["seq"] != float64(round) {
				t.Fatalf("round %d to %s: %v", round, to, ack)
			}
			convs[to] = ack["conv"].(string)
		}
	}
	// The dedupe window comes back from the store too.
	if ack := alice.request(map[string]any{"type": "send", "id": "bob2", "conv": convs["bob"], "text": "x"}); ack["seq"] != 2.0 || ack["dup"] != true {
		t.Fatalf("resend after eviction: %v", ack)
	}
	_, frames := e.connect("bob", "web", map[string]uint64{convs["bob"]: 0})
	var seqs []float64
	for _, f := range frames {
		if f["type"] == "msg" {
			seqs = append(seqs, f["seq"].(float64))
		}
	}
	if fmt.Sprint(seqs) != "[1 2 3]" {
		t.Fatalf("bob's replay %v", seqs)
	}
}

// TestPromptKindSettles: the gateway closes a prompt when its kind says the
// answer settled it, even with an error (told to the person with its code),
// keeps it when not, and lets a prompt of a kind it does not know only be
// dismissed.
func TestPromptKindSettles(t *testing.T) {
	var settle atomic.Bool
	kind := &host.PromptKind{Name: "optin", Answers: []string{"yes"},
		Apply: func(context.Context, host.Answer) (bool, error) {
			return settle.Load(), host.Errorf(host.StatusInsufficientFunds, "your wallet holds 1.00 EUR")
		}}
	e := newEnv(t, func(c *gateway.Config) { c.Prompts = append(c.Prompts, kind) })
	ctx := context.Background()
	alice, _ := e.connect("alice", "web", nil)
	show := func(id string, k *host.PromptKind) {
		t.Helper()
		out := host.Outgoing{App: host.AppRef{App: "lunch"}, Prompt: &host.Prompt{ID: id, Kind: k, Person: "alice", Body: json.RawMessage(`{}`)}}
		if err := e.srv.Emit(ctx, out); err != nil {
			t.Fatal(err)
		}
		if p := alice.until("prompt")["prompt"].(map[string]any); p["id"] != id || p["type"] != k.Name {
			t.Fatalf("prompt %v", p)
		}
	}

	show("o1", kind)
	if f := alice.request(map[string]any{"type": "answer", "id": "a1", "prompt": "o1", "answer": "yes"}); f["code"] != "insufficient_funds" {
		t.Fatalf("unsettled answer: %v", f)
	}
	if f := alice.request(map[string]any{"type": "answer", "id": "a2", "prompt": "o1", "answer": "no"}); f["code"] != "bad_request" {
		t.Fatalf("an answer the kind does not take: %v", f)
	}
	settle.Store(true)
	alice.send(map[string]any{"type": "answer", "id": "a3", "prompt": "o1", "answer": "yes"})
	var gotErr, closed bool
	for !gotErr || !closed {
		switch f := alice.next(); f["type"] {
		case "error":
			if f["id"] != "a3" || f["code"] != "insufficient_funds" || f["message"] != "your wallet holds 1.00 EUR" {
				t.Fatalf("settled answer's error %v", f)
			}
			gotErr = true
		case "prompt_closed":
			if f["prompt"] != "o1" || f["answer"] != "yes" {
				t.Fatalf("closed %v", f)
			}
			closed = true
		case "ack":
			t.Fatalf("an answer that failed was acknowledged: %v", f)
		}
	}

	unknown := &host.PromptKind{Name: "survey", Answers: []string{"yes"}}
	show("s1", unknown)
	if f := alice.request(map[string]any{"type": "answer", "id": "b1", "prompt": "s1", "answer": "yes"}); f["code"] != "unavailable" {
		t.Fatalf("an answer to an unknown kind: %v", f)
	}
	if f := alice.request(map[string]any{"type": "answer", "id": "b2", "prompt": "s1", "answer": "dismiss"}); f["type"] != "ack" {
		t.Fatalf("dismissing an unknown kind's prompt: %v", f)
	}
	_, frames := e.connect("alice", "web", nil)
	for _, f := range frames {
		if f["type"] == "prompt" {
			t.Fatalf("a closed prompt came back: %v", f)
		}
	}
}
