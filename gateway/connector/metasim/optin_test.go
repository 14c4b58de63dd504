package metasim_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/passerelle/passerelle/gateway/connector/metasim"
)

// Messenger's notification messages, as Meta documents them: the opt-in
// request shows on the phone with its button; the tap posts the
// messaging_optins webhook with a token; a send by that token goes
// outside the 24-hour window; the person stops and resumes the topic;
// unknown, stopped and expired tokens are refused in Meta's shape.
func TestNotificationMessages(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	h := newHook(t, 0)
	sim, base := newSim(t, metasim.SimConfig{Accounts: accounts(h.srv.URL), Users: people, Now: clock, Statuses: noStatuses()})
	url := base + "/v23.0/me/messages"
	const pageTok = "page-token"
	sim.Say(metasim.Messenger, psid, "hi")
	h.next()

	request := `{"recipient":{"id":"` + psid + `"},"messaging_type":"RESPONSE","message":{"attachment":{"type":"template","payload":{` +
		`"template_type":"notification_messages","title":"Autumn menu","payload":"topic-autumn","notification_messages_frequency":"WEEKLY"}}}}`
	for _, bad := range []struct{ body, want string }{
		{strings.Replace(request, `"Autumn menu"`, `"`+strings.Repeat("x", 66)+`"`, 1), "payload.title"},
		{strings.Replace(request, `"WEEKLY"`, `"HOURLY"`, 1), "notification_messages_frequency"},
		{strings.Replace(request, `"id":"`+psid+`"`, `"notification_messages_token":"x"`, 1), "person's id"},
	} {
		if status, resp := post(t, url, pageTok, bad.body); status != 400 || !strings.Contains(at(resp, "error", "message").(string), bad.want) {
			t.Fatalf("%s: %d %v", bad.want, status, resp)
		}
	}
	status, resp := post(t, url, pageTok, request)
	if status != 200 {
		t.Fatalf("opt-in request: %d %v", status, resp)
	}
	mid := at(resp, "message_id").(string)
	th, _ := sim.Thread(metasim.Messenger, psid)
	req := th[len(th)-1]
	if req.Kind != "optin_request" || req.Text != "Autumn menu" || len(req.Choices) != 1 || req.Choices[0].ID != "topic-autumn" {
		t.Fatalf("the request on the phone: %+v", req)
	}

	advance(48 * time.Hour) // the person taps two days later: the window is closed
	if _, err := sim.Tap(metasim.Messenger, psid, mid, "topic-autumn"); err != nil {
		t.Fatal(err)
	}
	optin := at(h.next(), "entry", 0, "messaging", 0, "optin")
	token, _ := at(optin, "notification_messages_token").(string)
	if at(optin, "type") != "notification_messages" || token == "" || at(optin, "payload") != "topic-autumn" || at(optin, "title") != "Autumn menu" ||
		at(optin, "notification_messages_frequency") != "WEEKLY" || at(optin, "token_expiry_timestamp") == nil || at(optin, "notification_messages_status") != nil {
		t.Fatalf("optin %v", optin)
	}
	byToken := func(tok string) (int, map[string]any) {
		return post(t, url, pageTok, `{"recipient":{"notification_messages_token":"`+tok+`"},"message":{"text":"The autumn menu is in"}}`)
	}
	if status, resp := post(t, url, pageTok, `{"recipient":{"id":"`+psid+`"},"messaging_type":"UPDATE","message":{"text":"no token"}}`); status != 400 ||
		at(resp, "error", "error_subcode") != float64(2018278) {
		t.Fatalf("by PSID outside the window: %d %v", status, resp)
	}
	if status, resp := byToken(token); status != 200 || at(resp, "recipient_id") != psid {
		t.Fatalf("by token: %d %v", status, resp)
	}

	if _, err := sim.Tap(metasim.Messenger, psid, mid, "stop"); err != nil {
		t.Fatal(err)
	}
	if st := at(h.next(), "entry", 0, "messaging", 0, "optin", "notification_messages_status"); st != "STOP NOTIFICATIONS" {
		t.Fatalf("stop: %v", st)
	}
	if status, resp := byToken(token); status != 400 || at(resp, "error", "code") != float64(10) || at(resp, "error", "error_subcode") != float64(1893015) {
		t.Fatalf("after STOP NOTIFICATIONS: %d %v", status, resp)
	}
	if _, err := sim.Tap(metasim.Messenger, psid, mid, "resume"); err != nil {
		t.Fatal(err)
	}
	if st := at(h.next(), "entry", 0, "messaging", 0, "optin", "notification_messages_status"); st != "RESUME NOTIFICATIONS" {
		t.Fatalf("resume: %v", st)
	}
	if status, resp := byToken(token); status != 200 {
		t.Fatalf("after RESUME NOTIFICATIONS: %d %v", status, resp)
	}
	if status, resp := byToken("nmt_unknown"); status != 400 || at(resp, "error", "code") != float64(100) ||
		!strings.Contains(at(resp, "error", "message").(string), "is invalid") {
		t.Fatalf("unknown token: %d %v", status, resp)
	}
	advance(275 * 24 * time.Hour) // a weekly token lasts 9 months
	if status, resp := byToken(token); status != 400 || at(resp, "error", "code") != float64(100) ||
		!strings.Contains(at(resp, "error", "message").(string), "has expired") {
		t.Fatalf("expired token: %d %v", status, resp)
	}
	h.none(sim)
}
