package whatsapp_test

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
	"sync/atomic"
	"testing"
	"time"

	"github.com/passerelle/passerelle/gateway/connector/metasim"
	"github.com/passerelle/passerelle/gateway/connector/whatsapp"
)

// classOf is the class each code the simulator answers with must get,
// from Meta's error code reference (not from Classify).
var classOf = map[int]whatsapp.Class{
	0: whatsapp.ClassAuth, 10: whatsapp.ClassAuth, 190: whatsapp.ClassAuth,
	4: whatsapp.ClassThrottled, 80007: whatsapp.ClassThrottled, 130429: whatsapp.ClassThrottled, 131056: whatsapp.ClassThrottled,
	131000: whatsapp.ClassTransient, 131016: whatsapp.ClassTransient, 133004: whatsapp.ClassTransient,
	131047: whatsapp.ClassWindowClosed,
	130472: whatsapp.ClassUndeliverable, 131021: whatsapp.ClassUndeliverable, 131026: whatsapp.ClassUndeliverable, 131045: whatsapp.ClassUndeliverable,
	131050: whatsapp.ClassConsent,
	368:    whatsapp.ClassPolicy, 130497: whatsapp.ClassPolicy, 131031: whatsapp.ClassPolicy, 131042: whatsapp.ClassPolicy, 131048: whatsapp.ClassPolicy, 131049: whatsapp.ClassPolicy,
	132000: whatsapp.ClassTemplate, 132001: whatsapp.ClassTemplate, 132005: whatsapp.ClassTemplate, 132007: whatsapp.ClassTemplate,
	132012: whatsapp.ClassTemplate, 132015: whatsapp.ClassTemplate, 132016: whatsapp.ClassTemplate,
	100: whatsapp.ClassInvalid, 131008: whatsapp.ClassInvalid, 131051: whatsapp.ClassInvalid,
}

// Every code the simulator answers with reaches the client whole (code,
// HTTP status, Meta's message, fbtrace_id) and in the right class.
func TestClassifiesEverySimulatedCode(t *testing.T) {
	for _, c := range metasim.WhatsAppCodes() {
		t.Run(fmt.Sprint(c.Code), func(t *testing.T) {
			want, ok := classOf[c.Code]
			if !ok {
				t.Fatalf("the simulator answers %d (%s), which this table does not classify: add it", c.Code, c.Message)
			}
			sim, base := newSim(t, metasim.Config{})
			sim.FailNext(c.Code)
			_, err := newClient(t, base, func(cfg *whatsapp.ClientConfig) { cfg.MaxAttempts = 1 }).Send(context.Background(), "16505551234", whatsapp.Text{Body: "hi"})
			e, ok := errors.AsType[*whatsapp.Error](err)
			if !ok {
				t.Fatalf("err = %v, want a *whatsapp.Error", err)
			}
			if e.Code != c.Code || e.Class != want || e.HTTPStatus != c.Status || e.Message != c.Message || e.Trace == "" {
				t.Fatalf("got code %d class %s status %d message %q trace %q; want %d %s %d %q", e.Code, e.Class, e.HTTPStatus, e.Message, e.Trace, c.Code, want, c.Status, c.Message)
			}
			if e.Retry() != (want == whatsapp.ClassThrottled || want == whatsapp.ClassTransient) {
				t.Fatalf("Retry() = %v for %s", e.Retry(), want)
			}
		})
	}
}

// The simulator as Meta: it posts a conversation to the real webhook and
// store, with a refused first delivery, every notification twice and the
// statuses out of order; the store keeps each event once, parsed right.
func TestConversationThroughTheSimulator(t *testing.T) {
	s, _ := openStore(t, filepath.Join(t.TempDir(), "wa.db"), whatsapp.StoreConfig{})
	h, err := whatsapp.NewWebhook(whatsapp.WebhookConfig{AppSecret: secret, VerifyToken: token, Recorder: s})
	if err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int32
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			http.Error(w, "restarting", http.StatusServiceUnavailable)
			return
		}
		h.ServeHTTP(w, r)
	}))
	defer hook.Close()
	const person = "16505551234"
	sim, err := metasim.NewSim(metasim.SimConfig{
		Accounts: []metasim.Account{{Network: metasim.WhatsApp, ID: simPhone, BusinessID: "102290129340398", DisplayPhone: "15550783881", Token: simToken, AppSecret: secret, WebhookURL: hook.URL}},
		Users:    []metasim.User{{Network: metasim.WhatsApp, ID: person, Name: "Sheena Nelson"}},
		Delivery: metasim.DeliveryConfig{Retry: time.Millisecond, Duplicates: 1},
		Statuses: metasim.StatusConfig{Sent: time.Millisecond, Delivered: 5 * time.Millisecond, Read: 10 * time.Millisecond, OutOfOrder: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	api := httptest.NewServer(sim)
	defer api.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := newClient(t, api.URL, nil)

	said, _ := sim.Say(metasim.WhatsApp, person, "Does it come in blue?")
	sim.Flush(ctx)
	btn, err := c.Send(ctx, person, whatsapp.Buttons{Body: "Which size?", Buttons: []whatsapp.Button{{ID: "size_m", Title: "M"}, {ID: "size_l", Title: "L"}}})
	if err != nil {
		t.Fatal(err)
	}
	sim.Flush(ctx)
	tapped, err := sim.Tap(metasim.WhatsApp, person, btn, "size_l")
	if err != nil {
		t.Fatal(err)
	}
	sim.FailDelivery(person, 131026)
	lost, err := c.Send(ctx, person, whatsapp.Text{Body: "Thanks!"})
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	byKey := map[string]whatsapp.Event{}
	for _, e := range inbox(t, s) {
		if _, dup := byKey[e.Event.Key]; dup {
			t.Fatalf("event %s recorded twice", e.Event.Key)
		}
		byKey[e.Event.Key] = e.Event
	}
	if e := byKey["msg:"+said]; e.Kind != whatsapp.KindText || e.Text != "Does it come in blue?" || e.Name != "Sheena Nelson" || e.PhoneNumberID != simPhone {
		t.Fatalf("text event %+v", e)
	}
	for _, st := range []string{"sent", "delivered", "read"} {
		if e := byKey["status:"+btn+":"+st]; e.Kind != whatsapp.KindStatus || e.Recipient != person {
			t.Fatalf("%s status of the buttons: %+v", st, e)
		}
	}
	if e := byKey["msg:"+tapped]; e.Kind != whatsapp.KindButtonReply || e.ReplyID != "size_l" || e.ReplyTitle != "L" || e.Context != btn {
		t.Fatalf("button reply %+v", e)
	}
	if e := byKey["status:"+lost+":failed"]; e.Status != whatsapp.StatusFailed || len(e.Errors) != 1 || e.Errors[0].Code != 131026 {
		t.Fatalf("failed status %+v", e)
	}
	if len(byKey) != 6 {
		t.Fatalf("%d events, want 6: %+v", len(byKey), byKey)
	}
	as := sim.Attempts()
	if as[0].Status != 503 || as[1].Try != 2 || as[1].Status != 200 {
		t.Fatalf("the first notification was not redelivered: %+v", as[:2])
	}
}

// The simulator's generator writes what the recorded fixtures hold: the
// parser reads both the same.
func TestGeneratorMatchesFixtures(t *testing.T) {
	acc := metasim.Account{Network: metasim.WhatsApp, ID: "106540352242922", BusinessID: "102290129340398", DisplayPhone: "15550783881"}
	at := func(unix int64) time.Time { return time.Unix(unix, 0) }
	tests := []struct {
		file  string
		entry metasim.Entry
	}{
		{"text.json", metasim.WhatsAppMessage(acc, metasim.WAMessage{ID: "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=", From: "16505551234", Name: "Sheena Nelson", Time: at(1749416383), Text: "Does it come in another color?"})},
		{"button_reply.json", metasim.WhatsAppMessage(acc, metasim.WAMessage{ID: "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUZCMTY0MDc2MUYwNzBDNTY5MgA=", From: "16505551234", Name: "Sheena Nelson", Time: at(1750025136),
			Button: &metasim.Reply{ID: "change-button", Title: "Change"}, Context: "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI1RjQyNUE3NEYxMzAzMzQ5MkEA"})},
		{"list_reply.json", metasim.WhatsAppMessage(acc, metasim.WAMessage{ID: "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTU3RTM3MzA0OTE2MkY2RUNFRQA=", From: "16505551234", Name: "Sheena Nelson", Time: at(1750032413),
			List: &metasim.Reply{ID: "priority_express", Title: "Priority Mail Express", Description: "Next Day to 2 Days"}, Context: "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJCNjUzOTc4MUM0MzM5RTU3MEEA"})},
		{"image.json", metasim.WhatsAppMessage(acc, metasim.WAMessage{ID: "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTc4NkE3MjE0RjQzRjlCOTk3AA==", From: "16505551234", Name: "Sheena Nelson", Time: at(1750090702),
			Text: "New TV!", Image: &metasim.Image{ID: "1003383421387256", SHA256: "SfInY3Y4bB7mFYl9+y5B/3B+jHwzeKn6aT2kM0QcBNk=", MimeType: "image/jpeg"}})},
		{"status_sent.json", metasim.WhatsAppStatus(acc, metasim.WAStatus{ID: "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI3NzFCMjI2MTFCNjc3QTE1MkIA", Status: "sent", Recipient: "16505551234", Time: at(1750263773), Category: "utility"})},
		{"status_failed.json", metasim.WhatsAppStatus(acc, metasim.WAStatus{ID: "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI3NzFCMjI2MTFCNjc3QTE1MkIA", Status: "failed", Recipient: "16505551234", Time: at(1750263773),
			Error: &metasim.StatusError{Code: 131047, Title: "Re-engagement message", Message: "Re-engagement message", Details: "Message failed to send because more than 24 hours have passed since the customer last replied to this number."}})},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			fixture, err := os.ReadFile(filepath.Join("testdata", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			generated := metasim.Notification(tt.entry)
			if !sameJSON(t, fixture, generated) {
				t.Fatalf("generated\n%s\ndiffers from the fixture\n%s", generated, fixture)
			}
			want, err := whatsapp.Parse(fixture)
			if err != nil {
				t.Fatal(err)
			}
			got, err := whatsapp.Parse(generated)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", want) {
				t.Fatalf("parsed\n%+v\nwant\n%+v", got, want)
			}
		})
	}
}

// sameJSON reports whether a and b hold the same JSON value.
func sameJSON(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatal(err)
	}
	return reflect.DeepEqual(x, y)
}

// Every recorded fixture (errors, unsupported types, an empty entry
// included), posted by the simulator, reaches the webhook signed and is
// recorded as Parse reads it.
func TestFixturesThroughTheSimulator(t *testing.T) {
	rec := &memRecorder{}
	hook := httptest.NewServer(newWebhook(t, rec, 0))
	defer hook.Close()
	sim, err := metasim.NewSim(metasim.SimConfig{Accounts: []metasim.Account{{Network: metasim.WhatsApp, ID: simPhone, Token: simToken, AppSecret: secret, WebhookURL: hook.URL}}})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	// Meta verifies the callback URL first; the webhook answers it.
	if err := sim.Verify(context.Background(), simPhone, token); err != nil {
		t.Fatal(err)
	}
	if err := sim.Verify(context.Background(), simPhone, "not-the-token"); err == nil {
		t.Fatal("a wrong verify token was answered")
	}
	files, _ := filepath.Glob(filepath.Join("testdata", "*.json"))
	var want []whatsapp.Event
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		evs, err := whatsapp.Parse(b)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		want = append(want, evs...)
		if err := sim.Deliver(simPhone, b); err != nil {
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
	for _, a := range sim.Attempts() {
		if a.Status != 200 {
			t.Fatalf("a fixture was refused: %d %s", a.Status, a.Body)
		}
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if fmt.Sprintf("%+v", rec.events) != fmt.Sprintf("%+v", want) {
		t.Fatalf("recorded\n%+v\nwant\n%+v", rec.events, want)
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
	documented := map[string]string{".error.error_subcode": "number"}
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
				Message   string `json:"message"`
				Code      int    `json:"code"`
				ErrorData struct {
					Details string `json:"details"`
				} `json:"error_data"`
				Trace string `json:"fbtrace_id"`
			} `json:"error"`
		}
		json.Unmarshal(b, &want)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(400)
			w.Write(b)
		}))
		_, err = newClient(t, srv.URL, func(c *whatsapp.ClientConfig) { c.MaxAttempts = 1 }).Send(context.Background(), "16505551234", whatsapp.Text{Body: "hi"})
		srv.Close()
		e, ok := errors.AsType[*whatsapp.Error](err)
		if !ok || e.Code != want.Error.Code || e.Message != want.Error.Message || e.Details != want.Error.ErrorData.Details || e.Trace != want.Error.Trace || e.Class != classOf[e.Code] && e.Class != whatsapp.ClassUnknown {
			t.Fatalf("%s decoded as %#v", f, err)
		}
	}
	for _, c := range metasim.WhatsAppCodes() {
		sim, base := newSim(t, metasim.Config{})
		sim.FailNext(c.Code)
		req, _ := http.NewRequest("POST", base+"/v23.0/"+simPhone+"/messages", strings.NewReader(`{"messaging_product":"whatsapp","to":"1","text":{"body":"x"}}`))
		req.Header.Set("Authorization", "Bearer "+simToken)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got := kinds(t, b)
		for k, kind := range got {
			if documented[k] != kind {
				t.Errorf("code %d: %s is %s, the documented shape has %q", c.Code, k, kind, documented[k])
			}
		}
		for _, k := range []string{".error.message", ".error.type", ".error.code", ".error.fbtrace_id"} {
			if got[k] == "" {
				t.Errorf("code %d: %s is missing from %s", c.Code, k, b)
			}
		}
	}
}
