package metasim_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/passerelle/passerelle/gateway/connector/metasim"
)

// Sign matches an HMAC-SHA256 computed elsewhere (openssl dgst -sha256
// -hmac app-secret).
func TestSignKnownVector(t *testing.T) {
	got := metasim.Sign([]byte("app-secret"), []byte(`{"object":"page","entry":[]}`))
	if want := "sha256=e6e9d7a842a48e17f43a34d6125d0d933e2aab92ee37f0993a4d493b50e3d438"; got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
}

// FuzzSendAPI: whatever a client posts, the simulator answers 200 in
// Meta's success shape or an error in Meta's error shape; never a panic.
func FuzzSendAPI(f *testing.F) {
	f.Add("whatsapp", `{`+ok+`,"type":"text","text":{"body":"hi"}}`)
	f.Add("whatsapp", buttons("A", "B"))
	f.Add("whatsapp", list(3, "Row"))
	f.Add("whatsapp", `{`+ok+`,"type":"template","template":{"name":"x","language":{"code":"en"},"components":[{"type":"body","parameters":[{"type":"text","text":"a"}]}]}}`)
	f.Add("messenger", `{"recipient":{"id":"1"},"messaging_type":"RESPONSE","message":{"text":"hi","quick_replies":[{"content_type":"text","title":"A","payload":"A"}]}}`)
	f.Add("instagram", `{"recipient":{"id":"1"},"messaging_type":"MESSAGE_TAG","tag":"HUMAN_AGENT","message":{"attachment":{"type":"template","payload":{"template_type":"generic","elements":[{"title":"T","buttons":[{"type":"postback","title":"B","payload":"P"}]}]}}}}`)
	f.Add("messenger", `{"recipient":{"id":"1"},"messaging_type":"RESPONSE","message":{"attachment":{"type":"template","payload":{"template_type":"notification_messages","title":"Deals","payload":"D","notification_messages_frequency":"DAILY","notification_messages_cta_text":"GET"}}}}`)
	f.Add("messenger", `{"recipient":{"notification_messages_token":"nmt_1"},"message":{"text":"Deals"}}`)
	f.Fuzz(func(t *testing.T, network, body string) {
		var h http.Handler
		path := "/v23.0/" + phone + "/messages"
		switch network {
		case "whatsapp":
			s := metasim.New(metasim.Config{PhoneNumberID: phone, Token: token, Templates: true, Windows: true})
			s.RegisterTemplate(metasim.Template{Name: "x", Language: "en", Category: "UTILITY", Body: "Hi {{1}}.", Examples: []string{"a"}})
			s.Inbound("16505551234", time.Now())
			h = s
		default:
			h = metasim.NewMessenger(metasim.MessengerConfig{Token: token, Instagram: network == "instagram"})
			path = "/v23.0/me/messages"
		}
		status, resp := do(t, h, "POST", path, "Bearer "+token, body)
		var m map[string]json.RawMessage
		if err := json.Unmarshal(resp, &m); err != nil {
			t.Fatalf("answer %d %q is not JSON", status, resp)
		}
		if status == 200 {
			if m["messages"] == nil && m["message_id"] == nil {
				t.Fatalf("200 without a message id: %s", resp)
			}
			return
		}
		var e struct {
			Error struct {
				Message string `json:"message"`
				Type    string `json:"type"`
				Trace   string `json:"fbtrace_id"`
				Code    *int   `json:"code"`
			} `json:"error"`
		}
		json.Unmarshal(resp, &e)
		if e.Error.Code == nil || e.Error.Message == "" || e.Error.Type != "OAuthException" || e.Error.Trace == "" {
			t.Fatalf("error %d %s is not in Meta's shape", status, resp)
		}
	})
}

// FuzzTemplateCreate: any template creation is approved or refused with
// code 100 saying why; never a panic.
func FuzzTemplateCreate(f *testing.F) {
	f.Add(`{"name":"welcome","language":"en_US","category":"MARKETING","components":[{"type":"BODY","text":"Welcome {{1}}!","example":{"body_text":[["Ana"]]}}]}`)
	f.Add(`{"name":"w","language":"en","category":"UTILITY","components":[{"type":"BODY","text":"Hi {{first_name}}, bye","example":{"body_text_named_params":[{"param_name":"first_name","example":"Ana"}]}}]}`)
	f.Add(`{"components":[{"type":"BODY","text":"{{}}{{{{1}}}}"}]}`)
	f.Fuzz(func(t *testing.T, body string) {
		s := metasim.New(metasim.Config{PhoneNumberID: phone, Token: token, WABAID: "77"})
		status, resp := do(t, s, "POST", "/v23.0/77/message_templates", "Bearer "+token, body)
		var m struct {
			Status string
			Error  struct {
				Code int    `json:"code"`
				Msg  string `json:"error_user_msg"`
			}
		}
		if err := json.Unmarshal(resp, &m); err != nil {
			t.Fatalf("answer %q is not JSON", resp)
		}
		if status == 200 && m.Status != "APPROVED" || status != 200 && (m.Error.Code != 100 || m.Error.Msg == "") {
			t.Fatalf("answer %d %s", status, resp)
		}
	})
}
