package messenger_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/passerelle/passerelle/gateway/connector/messenger"
	"github.com/passerelle/passerelle/gateway/connector/metasim"
)

// classOf is the class each code and subcode the simulator answers with
// must get, from the Messenger Platform's error reference (not from
// Classify).
var classOf = map[metasim.Fault]messenger.Class{
	{Code: 1}: messenger.ClassTransient, {Code: 2}: messenger.ClassTransient, {Code: 1200}: messenger.ClassTransient,
	{Code: 4}: messenger.ClassThrottled, {Code: 32}: messenger.ClassThrottled, {Code: 613}: messenger.ClassThrottled, {Code: 80006}: messenger.ClassThrottled,
	{Code: 10, Subcode: 2018278}: messenger.ClassWindowClosed, {Code: 10, Subcode: 2018065}: messenger.ClassWindowClosed,
	{Code: 100, Subcode: 2018001}: messenger.ClassUndeliverable, {Code: 200, Subcode: 1545041}: messenger.ClassUndeliverable, {Code: 551, Subcode: 1545041}: messenger.ClassUndeliverable,
	{Code: 551}: messenger.ClassUndeliverable, {Code: 10, Subcode: 2018108}: messenger.ClassUndeliverable, {Code: 100, Subcode: 2534014}: messenger.ClassUndeliverable,
	{Code: 10, Subcode: 1893015}: messenger.ClassConsent,
	{Code: 102}:                  messenger.ClassAuth, {Code: 190}: messenger.ClassAuth,
	{Code: 368, Subcode: 1390008}: messenger.ClassPolicy,
}

// Every code the simulator answers with reaches the client whole (code,
// subcode, HTTP status, Meta's message, fbtrace_id) and in the right
// class, on Messenger and on Instagram.
func TestClassifiesEverySimulatedCode(t *testing.T) {
	for _, net := range []messenger.Network{messenger.Messenger, messenger.Instagram} {
		for _, c := range metasim.MessengerCodes() {
			t.Run(fmt.Sprintf("%s_%d_%d", net, c.Code, c.Subcode), func(t *testing.T) {
				f := metasim.Fault{Code: c.Code, Subcode: c.Subcode}
				want, ok := classOf[f]
				if !ok {
					t.Fatalf("the simulator answers %d/%d (%s), which this table does not classify: add it", c.Code, c.Subcode, c.Message)
				}
				sim := metasim.NewMessenger(metasim.MessengerConfig{Token: pageToken, Instagram: net == messenger.Instagram})
				sim.FailNext(f)
				_, err := newClient(t, sim, net, 1).Send(context.Background(), "PSID1", messenger.Message{Text: "hello"})
				e, ok := errors.AsType[*messenger.Error](err)
				if !ok {
					t.Fatalf("err = %v, want a *messenger.Error", err)
				}
				if e.Code != c.Code || e.Subcode != c.Subcode || e.Class != want || e.HTTPStatus != c.Status || e.Message != c.Message || e.Trace == "" {
					t.Fatalf("got %d/%d class %s status %d message %q trace %q; want %d/%d %s %d %q",
						e.Code, e.Subcode, e.Class, e.HTTPStatus, e.Message, e.Trace, c.Code, c.Subcode, want, c.Status, c.Message)
				}
				if e.Retry() != (want == messenger.ClassThrottled || want == messenger.ClassTransient) {
					t.Fatalf("Retry() = %v for %s", e.Retry(), want)
				}
			})
		}
	}
}

// The simulator as Meta for a Page and an Instagram account: a person
// writes, the business answers with quick replies and a generic
// template, the person taps; the real webhook and store get each event
// once although every notification comes twice and batched.
func TestConversationThroughTheSimulator(t *testing.T) {
	s, _ := openStore(t, filepath.Join(t.TempDir(), "m.db"))
	h := newWebhook(t, s, 0)
	hook := httptest.NewServer(h)
	defer hook.Close()
	const (
		page, ig    = "105331912345678", "17841400000000001"
		psid, igsid = "6912345678901234", "1234567890123456"
	)
	sim, err := metasim.NewSim(metasim.SimConfig{
		Accounts: []metasim.Account{
			{Network: metasim.Messenger, ID: page, Token: pageToken, AppSecret: secret, WebhookURL: hook.URL},
			{Network: metasim.Instagram, ID: ig, Token: "ig-token", AppSecret: secret, WebhookURL: hook.URL},
		},
		Users:    []metasim.User{{Network: metasim.Messenger, ID: psid}, {Network: metasim.Instagram, ID: igsid}},
		Delivery: metasim.DeliveryConfig{Duplicates: 1, Batch: 20 * time.Millisecond},
		Statuses: metasim.StatusConfig{Sent: time.Millisecond, Delivered: 2 * time.Millisecond, Read: 4 * time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pageClient := newClient(t, sim, messenger.Messenger, 1)
	api := httptest.NewServer(sim)
	defer api.Close()
	igClient, err := messenger.NewClient(messenger.ClientConfig{Network: messenger.Instagram, BaseURL: api.URL, Token: "ig-token", MaxAttempts: 1})
	if err != nil {
		t.Fatal(err)
	}

	hi, _ := sim.Say(metasim.Messenger, psid, "hi")
	igHi, _ := sim.Say(metasim.Instagram, igsid, "is the ramen open?")
	sim.Flush(ctx)
	q, err := pageClient.Send(ctx, psid, messenger.Message{Text: "Which size?", QuickReplies: []messenger.QuickReply{{Title: "Large", Payload: "SIZE_L"}}})
	if err != nil {
		t.Fatal(err)
	}
	g, err := igClient.Send(ctx, igsid, messenger.Message{Cards: []messenger.Card{{Title: "Ramen", Buttons: []messenger.Button{{Title: "Order", Payload: "ORDER"}}}}})
	if err != nil {
		t.Fatal(err)
	}
	sim.Flush(ctx)
	qr, err := sim.Tap(metasim.Messenger, psid, q, "SIZE_L")
	if err != nil {
		t.Fatal(err)
	}
	pb, err := sim.Tap(metasim.Instagram, igsid, g, "ORDER")
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	byKind := map[messenger.Kind][]messenger.Event{}
	seen := map[string]bool{}
	for _, e := range inbox(t, s) {
		if seen[e.Event.Key] {
			t.Fatalf("event %s recorded twice", e.Event.Key)
		}
		seen[e.Event.Key] = true
		byKind[e.Event.Kind] = append(byKind[e.Event.Kind], e.Event)
	}
	texts := map[string]messenger.Event{}
	for _, e := range byKind[messenger.KindText] {
		texts[e.MessageID] = e
	}
	if len(texts) != 2 || texts[hi].Network != messenger.Messenger || texts[hi].AccountID != page || texts[igHi].Network != messenger.Instagram || texts[igHi].AccountID != ig {
		t.Fatalf("texts %+v", texts)
	}
	if qs := byKind[messenger.KindQuickReply]; len(qs) != 1 || qs[0].MessageID != qr || qs[0].Payload != "SIZE_L" || qs[0].Text != "Large" {
		t.Fatalf("quick replies %+v", qs)
	}
	if ps := byKind[messenger.KindPostback]; len(ps) != 1 || ps[0].Payload != "ORDER" || ps[0].Title != "Order" || ps[0].Sender != igsid {
		t.Fatalf("postbacks %+v (mid %s)", ps, pb)
	}
	if ds := byKind[messenger.KindDelivery]; len(ds) != 1 || len(ds[0].MessageIDs) != 1 || ds[0].MessageIDs[0] != q {
		t.Fatalf("deliveries %+v", ds)
	}
	reads := byKind[messenger.KindRead]
	if len(reads) != 2 {
		t.Fatalf("reads %+v", reads)
	}
	for _, r := range reads {
		if r.Network == messenger.Instagram && r.MessageID != g || r.Network == messenger.Messenger && r.Watermark == 0 {
			t.Fatalf("read %+v", r)
		}
	}
	var dups int
	for _, a := range sim.Attempts() {
		if a.Duplicate {
			dups++
		}
	}
	if dups == 0 {
		t.Fatal("no notification was delivered twice")
	}
}

// The simulator's generator writes what the recorded fixtures hold: the
// parser reads both the same.
func TestGeneratorMatchesFixtures(t *testing.T) {
	page := metasim.Account{Network: metasim.Messenger, ID: "105331912345678"}
	ig := metasim.Account{Network: metasim.Instagram, ID: "17841400000000001"}
	ms := func(v int64) time.Time { return time.UnixMilli(v) }
	const psid, igsid = "6912345678901234", "1234567890123456"
	tests := []struct {
		file  string
		entry metasim.Entry
	}{
		{"text.json", metasim.MessengerEntry(page, metasim.MsgrEvent{From: psid, Time: ms(1764892800000), EntryTime: ms(1764892800123), MID: "m_AG5Hz2Uq7tuwNEhXfYYKj8mJEM", Text: "hello, world!"})},
		{"quick_reply.json", metasim.MessengerEntry(page, metasim.MsgrEvent{From: psid, Time: ms(1764892801000), EntryTime: ms(1764892801123), MID: "m_qr1", Text: "Red", QuickReply: "COLOR_RED"})},
		{"postback.json", metasim.MessengerEntry(page, metasim.MsgrEvent{From: psid, Time: ms(1764892802000), EntryTime: ms(1764892802123), MID: "m_pb1", Postback: &metasim.Postback{Title: "Order lunch", Payload: "ORDER_LUNCH"}})},
		{"delivery.json", metasim.MessengerEntry(page, metasim.MsgrEvent{From: psid, Time: ms(1764892806000), EntryTime: ms(1764892806123), Delivered: []string{"m_sent1", "m_sent2"}, Watermark: ms(1764892805900)})},
		{"read.json", metasim.MessengerEntry(page, metasim.MsgrEvent{From: psid, Time: ms(1764892805000), EntryTime: ms(1764892805123), Read: true, Watermark: ms(1764892804500)})},
		{"image.json", metasim.MessengerEntry(page, metasim.MsgrEvent{From: psid, Time: ms(1764892809000), EntryTime: ms(1764892809123), MID: "m_img1", Image: &metasim.Image{URL: "https://scontent.example/photo.jpg"}})},
		{"instagram_text.json", metasim.MessengerEntry(ig, metasim.MsgrEvent{From: igsid, Time: ms(1764892812000), EntryTime: ms(1764892812123), MID: "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQx", Text: "is the ramen open?"})},
		{"instagram_read.json", metasim.MessengerEntry(ig, metasim.MsgrEvent{From: igsid, Time: ms(1764892813000), EntryTime: ms(1764892813123), Read: true, ReadMID: "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQy"})},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			fixture, err := os.ReadFile(filepath.Join("testdata", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			generated := metasim.Notification(tt.entry)
			var x, y any
			json.Unmarshal(fixture, &x)
			json.Unmarshal(generated, &y)
			if !reflect.DeepEqual(x, y) {
				t.Fatalf("generated\n%s\ndiffers from the fixture\n%s", generated, fixture)
			}
			want, err := messenger.Parse(fixture)
			if err != nil {
				t.Fatal(err)
			}
			got, err := messenger.Parse(generated)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("parsed\n%+v\nwant\n%+v", got, want)
			}
		})
	}
}

// Every recorded fixture (standby, comments, attachments, an empty entry
// included), posted by the simulator, reaches the webhook signed and is
// recorded as Parse reads it.
func TestFixturesThroughTheSimulator(t *testing.T) {
	var mu sync.Mutex
	var got []messenger.Event
	hook := httptest.NewServer(newWebhook(t, recorderFunc(func(e messenger.Event) error {
		mu.Lock()
		got = append(got, e)
		mu.Unlock()
		return nil
	}), 0))
	defer hook.Close()
	sim, err := metasim.NewSim(metasim.SimConfig{Accounts: []metasim.Account{{Network: metasim.Messenger, ID: "105331912345678", Token: pageToken, AppSecret: secret, WebhookURL: hook.URL}}})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	files, _ := filepath.Glob(filepath.Join("testdata", "*.json"))
	var want []messenger.Event
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		evs, err := messenger.Parse(b)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		want = append(want, evs...)
		if err := sim.Deliver("105331912345678", b); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		err = sim.Flush(ctx)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(files) < 10 {
		t.Fatalf("only %d fixtures", len(files))
	}
	mu.Lock()
	defer mu.Unlock()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("recorded\n%+v\nwant\n%+v", got, want)
	}
}

// kinds maps each key path of a JSON object to its JSON kind.
func kinds(t *testing.T, raw []byte) map[string]string {
	t.Helper()
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		switch x := v.(type) {
		case map[string]any:
			out[prefix] = "object"
			for k, e := range x {
				walk(prefix+"."+k, e)
			}
		case string:
			out[prefix] = "string"
		case float64:
			out[prefix] = "number"
		default:
			out[prefix] = fmt.Sprintf("%T", v)
		}
	}
	walk("", v)
	return out
}

// The documented error answers decode whole, and every answer of the
// simulator has their shape: the same fields with the same kinds.
func TestSendErrorFixtures(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "send_error", "*.json"))
	if len(files) == 0 {
		t.Fatal("no fixtures")
	}
	documented := map[string]string{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range kinds(t, b) {
			documented[k] = v
		}
		var want struct {
			Error struct {
				Message string `json:"message"`
				Code    int    `json:"code"`
				Subcode int    `json:"error_subcode"`
				Trace   string `json:"fbtrace_id"`
			} `json:"error"`
		}
		json.Unmarshal(b, &want)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(400)
			w.Write(b)
		}))
		c, _ := messenger.NewClient(messenger.ClientConfig{Network: messenger.Messenger, BaseURL: srv.URL, Token: pageToken, MaxAttempts: 1})
		_, err = c.Send(context.Background(), "PSID1", messenger.Message{Text: "hi"})
		srv.Close()
		e, ok := errors.AsType[*messenger.Error](err)
		if !ok || e.Code != want.Error.Code || e.Subcode != want.Error.Subcode || e.Message != want.Error.Message || e.Trace != want.Error.Trace ||
			e.Class != classOf[metasim.Fault{Code: e.Code, Subcode: e.Subcode}] && e.Class != messenger.Classify(e.Code, 0) {
			t.Fatalf("%s decoded as %#v", f, err)
		}
	}
	for _, c := range metasim.MessengerCodes() {
		sim := metasim.NewMessenger(metasim.MessengerConfig{Token: pageToken})
		sim.FailNext(metasim.Fault{Code: c.Code, Subcode: c.Subcode})
		srv := httptest.NewServer(sim)
		req, _ := http.NewRequest("POST", srv.URL+"/v23.0/me/messages", strings.NewReader(`{"recipient":{"id":"1"},"messaging_type":"RESPONSE","message":{"text":"x"}}`))
		req.Header.Set("Authorization", "Bearer "+pageToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		srv.Close()
		got := kinds(t, b)
		for k, kind := range got {
			if documented[k] != kind {
				t.Errorf("code %d/%d: %s is %s, the documented shape has %q", c.Code, c.Subcode, k, kind, documented[k])
			}
		}
		for _, k := range []string{".error.message", ".error.type", ".error.code", ".error.fbtrace_id"} {
			if got[k] == "" {
				t.Errorf("code %d: %s is missing from %s", c.Code, k, b)
			}
		}
	}
}
