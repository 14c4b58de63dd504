package messenger_test

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/passerelle/passerelle/gateway/connector/messenger"
)

func readFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseRecordedPayloads(t *testing.T) {
	const page, psid = "105331912345678", "6912345678901234"
	tests := []struct {
		file string
		want []messenger.Event // Key "body:" means a hash key: only the prefix is checked
	}{
		{"text.json", []messenger.Event{{Key: "mid:m_AG5Hz2Uq7tuwNEhXfYYKj8mJEM", Network: messenger.Messenger, Kind: messenger.KindText, AccountID: page, Sender: psid, Recipient: page, Time: 1764892800000, MessageID: "m_AG5Hz2Uq7tuwNEhXfYYKj8mJEM", Text: "hello, world!"}}},
		{"quick_reply.json", []messenger.Event{{Key: "mid:m_qr1", Network: messenger.Messenger, Kind: messenger.KindQuickReply, AccountID: page, Sender: psid, Recipient: page, Time: 1764892801000, MessageID: "m_qr1", Text: "Red", Payload: "COLOR_RED"}}},
		{"postback.json", []messenger.Event{{Key: "postback:m_pb1", Network: messenger.Messenger, Kind: messenger.KindPostback, AccountID: page, Sender: psid, Recipient: page, Time: 1764892802000, MessageID: "m_pb1", Title: "Order lunch", Payload: "ORDER_LUNCH"}}},
		{"optin.json", []messenger.Event{{Key: "optin:" + psid + ":1764892803000:notification_messages:", Network: messenger.Messenger, Kind: messenger.KindOptin, AccountID: page, Sender: psid, Recipient: page, Time: 1764892803000, Payload: "LUNCH_DEALS", Title: "Lunch deals",
			Optin: &messenger.Optin{Type: "notification_messages", Token: "7834123456789012345", Frequency: "WEEKLY", Timezone: "Europe/Paris", TokenExpiry: 1772668803000, TokenStatus: "NOT_REFRESHED"}}}},
		{"optin_stop.json", []messenger.Event{{Key: "optin:" + psid + ":1764892804000:notification_messages:STOP NOTIFICATIONS", Network: messenger.Messenger, Kind: messenger.KindOptin, AccountID: page, Sender: psid, Recipient: page, Time: 1764892804000, Payload: "LUNCH_DEALS",
			Optin: &messenger.Optin{Type: "notification_messages", Token: "7834123456789012345", Status: "STOP NOTIFICATIONS"}}}},
		{"read.json", []messenger.Event{{Key: "read:" + psid + ":1764892804500", Network: messenger.Messenger, Kind: messenger.KindRead, AccountID: page, Sender: psid, Recipient: page, Time: 1764892805000, Watermark: 1764892804500}}},
		{"delivery.json", []messenger.Event{{Key: "delivery:" + psid + ":1764892805900", Network: messenger.Messenger, Kind: messenger.KindDelivery, AccountID: page, Sender: psid, Recipient: page, Time: 1764892806000, Watermark: 1764892805900, MessageIDs: []string{"m_sent1", "m_sent2"}}}},
		{"reaction.json", []messenger.Event{{Key: "reaction:m_sent1:" + psid + ":react:love:1764892807000", Network: messenger.Messenger, Kind: messenger.KindReaction, AccountID: page, Sender: psid, Recipient: page, Time: 1764892807000, MessageID: "m_sent1", Reaction: &messenger.Reaction{Action: "react", Reaction: "love", Emoji: "\u2764\ufe0f"}}}},
		{"echo.json", []messenger.Event{{Key: "echo:m_echo1", Network: messenger.Messenger, Kind: messenger.KindEcho, AccountID: page, Sender: page, Recipient: psid, Time: 1764892808000, MessageID: "m_echo1", Text: "A person will answer here.", AppID: "1517776481860111"}}},
		{"image.json", []messenger.Event{{Key: "mid:m_img1", Network: messenger.Messenger, Kind: messenger.KindUnsupported, Raw: "attachment:image", AccountID: page, Sender: psid, Recipient: page, Time: 1764892809000, MessageID: "m_img1"}}},
		{"referral.json", []messenger.Event{{Key: "body:", Network: messenger.Messenger, Kind: messenger.KindUnsupported, Raw: "referral", AccountID: page, Sender: psid, Recipient: page, Time: 1764892810000}}},
		{"standby.json", []messenger.Event{{Key: "body:", Network: messenger.Messenger, Kind: messenger.KindUnsupported, Raw: "standby", AccountID: page, Sender: psid, Recipient: page, Time: 1764892811000}}},
		{"entry_empty.json", []messenger.Event{{Key: "body:", Network: messenger.Messenger, Kind: messenger.KindUnsupported, Raw: "entry_empty"}}},
		{"instagram_text.json", []messenger.Event{{Key: "mid:aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQx", Network: messenger.Instagram, Kind: messenger.KindText, AccountID: "17841400000000001", Sender: "1234567890123456", Recipient: "17841400000000001", Time: 1764892812000, MessageID: "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQx", Text: "is the ramen open?"}}},
		{"instagram_read.json", []messenger.Event{{Key: "read:1234567890123456:aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQy", Network: messenger.Instagram, Kind: messenger.KindRead, AccountID: "17841400000000001", Sender: "1234567890123456", Recipient: "17841400000000001", Time: 1764892813000, MessageID: "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQy"}}},
		{"instagram_comment.json", []messenger.Event{{Key: "body:", Network: messenger.Instagram, Kind: messenger.KindUnsupported, Raw: "field:comments", AccountID: "17841400000000001"}}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			got, err := messenger.Parse(readFile(t, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d events %+v, want %d", len(got), got, len(tt.want))
			}
			for i := range got {
				if tt.want[i].Key == "body:" {
					if !strings.HasPrefix(got[i].Key, "body:") {
						t.Errorf("event %d key %q, want a body: key", i, got[i].Key)
					}
					got[i].Key = "body:"
				}
				if !reflect.DeepEqual(got[i], tt.want[i]) {
					t.Errorf("event %d:\n got %+v\nwant %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestParseBatchKeepsOrderAndDistinctKeys(t *testing.T) {
	got, err := messenger.Parse(readFile(t, "batch.json"))
	if err != nil {
		t.Fatal(err)
	}
	var kinds, keys []string
	for _, e := range got {
		kinds = append(kinds, e.Text+string(e.Kind))
		keys = append(keys, e.Key)
	}
	if want := []string{"onetext", "twotext", "delivery"}; !reflect.DeepEqual(kinds, want) {
		t.Fatalf("kinds %v, want %v", kinds, want)
	}
	if keys[0] == keys[1] || keys[1] == keys[2] {
		t.Fatalf("keys not distinct: %v", keys)
	}
}

func TestParseRedeliveryRepeatsKeys(t *testing.T) {
	// A hash key depends on the body: the same body gives the same keys,
	// a different body different ones.
	a, _ := messenger.Parse(readFile(t, "referral.json"))
	b, _ := messenger.Parse(readFile(t, "referral.json"))
	c, _ := messenger.Parse(readFile(t, "standby.json"))
	if a[0].Key != b[0].Key || a[0].Key == c[0].Key {
		t.Fatalf("keys %q %q %q", a[0].Key, b[0].Key, c[0].Key)
	}
}

func TestParseUnknownShapes(t *testing.T) {
	tests := []struct {
		name, body, raw string
	}{
		{"entry without messaging", `{"object":"page","entry":[{"id":"1","time":1}]}`, "messaging_empty"},
		{"unknown messaging event", `{"object":"page","entry":[{"id":"1","messaging":[{"sender":{"id":"2"},"recipient":{"id":"1"},"timestamp":3,"game_play":{}}]}]}`, "messaging_unknown"},
		{"deleted message", `{"object":"instagram","entry":[{"id":"1","messaging":[{"sender":{"id":"2"},"recipient":{"id":"1"},"timestamp":3,"message":{"mid":"m1","is_deleted":true}}]}]}`, "message_deleted"},
		{"empty message", `{"object":"page","entry":[{"id":"1","messaging":[{"sender":{"id":"2"},"recipient":{"id":"1"},"timestamp":"3","message":{"mid":"m1"}}]}]}`, "message_untyped"},
		{"handover", `{"object":"page","entry":[{"id":"1","messaging":[{"sender":{"id":"2"},"recipient":{"id":"1"},"timestamp":3,"pass_thread_control":{"new_owner_app_id":"9"}}]}]}`, "pass_thread_control"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := messenger.Parse([]byte(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || got[0].Kind != messenger.KindUnsupported || got[0].Raw != tt.raw || got[0].Key == "" {
				t.Fatalf("got %+v, want one unsupported %q", got, tt.raw)
			}
		})
	}
}

func TestParseRefusesWhatIsNotANotification(t *testing.T) {
	for _, body := range []string{``, `[]`, `{"object":"whatsapp_business_account","entry":[]}`, `{"entry":[]}`, `{"object":"page","entry":{}}`} {
		if _, err := messenger.Parse([]byte(body)); !errors.Is(err, messenger.ErrBadPayload) {
			t.Errorf("Parse(%q) err = %v, want ErrBadPayload", body, err)
		}
	}
}
