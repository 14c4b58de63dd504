package whatsapp_test

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/passerelle/passerelle/gateway/connector/whatsapp"
)

func readFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

const (
	phone = "106540352242922"
	wa    = "16505551234"
	ours  = "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI3NzFCMjI2MTFCNjc3QTE1MkIA"
)

func TestParseRecorded(t *testing.T) {
	failed := []whatsapp.ProviderError{{Code: 131047, Title: "Re-engagement message", Message: "Re-engagement message",
		Details: "Message failed to send because more than 24 hours have passed since the customer last replied to this number."}}
	tests := []struct {
		file string
		want []whatsapp.Event // Key is checked apart for body: keys
	}{
		{"text.json", []whatsapp.Event{{Key: "msg:wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=", Kind: whatsapp.KindText,
			PhoneNumberID: phone, From: wa, Name: "Sheena Nelson", MessageID: "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=",
			Time: 1749416383, Text: "Does it come in another color?"}}},
		{"button_reply.json", []whatsapp.Event{{Key: "msg:wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUZCMTY0MDc2MUYwNzBDNTY5MgA=", Kind: whatsapp.KindButtonReply,
			PhoneNumberID: phone, From: wa, Name: "Sheena Nelson", MessageID: "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUZCMTY0MDc2MUYwNzBDNTY5MgA=",
			Time: 1750025136, ReplyID: "change-button", ReplyTitle: "Change", Context: "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI1RjQyNUE3NEYxMzAzMzQ5MkEA"}}},
		{"list_reply.json", []whatsapp.Event{{Key: "msg:wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTU3RTM3MzA0OTE2MkY2RUNFRQA=", Kind: whatsapp.KindListReply,
			PhoneNumberID: phone, From: wa, Name: "Sheena Nelson", MessageID: "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTU3RTM3MzA0OTE2MkY2RUNFRQA=",
			Time: 1750032413, ReplyID: "priority_express", ReplyTitle: "Priority Mail Express", ReplyDescription: "Next Day to 2 Days",
			Context: "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJCNjUzOTc4MUM0MzM5RTU3MEEA"}}},
		{"status_sent.json", []whatsapp.Event{{Key: "status:" + ours + ":sent", Kind: whatsapp.KindStatus, PhoneNumberID: phone,
			MessageID: ours, Time: 1750263773, Status: whatsapp.StatusSent, Recipient: wa}}},
		{"status_delivered.json", []whatsapp.Event{{Key: "status:" + ours + ":delivered", Kind: whatsapp.KindStatus, PhoneNumberID: phone,
			MessageID: ours, Time: 1750263773, Status: whatsapp.StatusDelivered, Recipient: wa}}},
		{"status_read.json", []whatsapp.Event{{Key: "status:" + ours + ":read", Kind: whatsapp.KindStatus, PhoneNumberID: phone,
			MessageID: ours, Time: 1750263773, Status: whatsapp.StatusRead, Recipient: wa}}},
		{"status_failed.json", []whatsapp.Event{{Key: "status:" + ours + ":failed", Kind: whatsapp.KindStatus, PhoneNumberID: phone,
			MessageID: ours, Time: 1750263773, Status: whatsapp.StatusFailed, Recipient: wa, Errors: failed}}},
		{"image.json", []whatsapp.Event{{Key: "msg:wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTc4NkE3MjE0RjQzRjlCOTk3AA==", Kind: whatsapp.KindUnsupported, Raw: "image",
			PhoneNumberID: phone, From: wa, Name: "Sheena Nelson", MessageID: "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTc4NkE3MjE0RjQzRjlCOTk3AA==", Time: 1750090702}}},
		{"reaction.json", []whatsapp.Event{{Key: "msg:wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUU5OTI4RkU5M0Q1N0I4MEY3AA==", Kind: whatsapp.KindUnsupported, Raw: "reaction",
			PhoneNumberID: phone, From: wa, Name: "Sheena Nelson", MessageID: "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUU5OTI4RkU5M0Q1N0I4MEY3AA==", Time: 1750090702}}},
		{"location.json", []whatsapp.Event{{Key: "msg:wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUY4RTgzNzZFNkYxRDUxQjI3AA==", Kind: whatsapp.KindUnsupported, Raw: "location",
			PhoneNumberID: phone, From: wa, Name: "Sheena Nelson", MessageID: "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUY4RTgzNzZFNkYxRDUxQjI3AA==", Time: 1750090702}}},
		{"order.json", []whatsapp.Event{{Key: "msg:wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTZCMUE5MEMyMEUxMjc3MzhFAA==", Kind: whatsapp.KindUnsupported, Raw: "order",
			PhoneNumberID: phone, From: wa, Name: "Sheena Nelson", MessageID: "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTZCMUE5MEMyMEUxMjc3MzhFAA==", Time: 1750090702}}},
		{"unsupported.json", []whatsapp.Event{{Key: "msg:wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTBFQjU5MTg2NUM4ODBCMDMyAA==", Kind: whatsapp.KindUnsupported, Raw: "unsupported",
			PhoneNumberID: phone, From: wa, Name: "Sheena Nelson", MessageID: "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTBFQjU5MTg2NUM4ODBCMDMyAA==", Time: 1750090702,
			Errors: []whatsapp.ProviderError{{Code: 131051, Title: "Message type unknown", Message: "Message type unknown", Details: "Message type is currently not supported."}}}}},
		{"errors.json", []whatsapp.Event{{Kind: whatsapp.KindUnsupported, Raw: "errors", PhoneNumberID: phone,
			Errors: []whatsapp.ProviderError{{Code: 130501, Title: "Unsupported post request", Message: "Unsupported post request", Details: "This message type is not supported."}}}}},
		{"entry_empty.json", []whatsapp.Event{{Kind: whatsapp.KindUnsupported, Raw: "entry_empty"}}},
		{"account_update.json", []whatsapp.Event{{Kind: whatsapp.KindUnsupported, Raw: "field:account_update"}}},
		{"batch.json", []whatsapp.Event{
			{Key: "msg:wamid.A", Kind: whatsapp.KindText, PhoneNumberID: phone, From: wa, Name: "Sheena Nelson", MessageID: "wamid.A", Time: 1750090702, Text: "one"},
			{Key: "msg:wamid.B", Kind: whatsapp.KindUnsupported, Raw: "sticker", PhoneNumberID: phone, From: wa, Name: "Sheena Nelson", MessageID: "wamid.B", Time: 1750090703},
			{Key: "status:wamid.C:read", Kind: whatsapp.KindStatus, PhoneNumberID: phone, MessageID: "wamid.C", Time: 1750090704, Status: whatsapp.StatusRead, Recipient: wa},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			body := readFile(t, tt.file)
			got, err := whatsapp.Parse(body)
			if err != nil {
				t.Fatal(err)
			}
			again, _ := whatsapp.Parse(body)
			for i := range got {
				if i < len(tt.want) && tt.want[i].Key == "" {
					if !strings.HasPrefix(got[i].Key, "body:") {
						t.Errorf("event %d: key %q, want a body: key", i, got[i].Key)
					}
					tt.want[i].Key = got[i].Key
				}
				if got[i].Key != again[i].Key {
					t.Errorf("event %d: key %q then %q: a redelivery must give the same key", i, got[i].Key, again[i].Key)
				}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Parse:\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestParseRefuses(t *testing.T) {
	tests := []struct{ name, body string }{
		{"not json", "hello"},
		{"array", "[]"},
		{"empty", ""},
		{"other object", `{"object":"page","entry":[]}`},
		{"no object", `{"entry":[]}`},
		{"entry not a list", `{"object":"whatsapp_business_account","entry":{}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if evs, err := whatsapp.Parse([]byte(tt.body)); err == nil {
				t.Fatalf("Parse(%q) = %+v, want an error", tt.body, evs)
			}
		})
	}
}

// Odd but well-formed notifications still make events, never nothing.
func TestParseOdd(t *testing.T) {
	tests := []struct{ name, body, raw string }{
		{"changes empty", `{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[]}]}`, "changes_empty"},
		{"value empty", `{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{}}]}]}`, "messages_empty"},
		{"text without text", `{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"messages","value":{"messages":[{"id":"w","type":"text"}]}}]}]}`, "text"},
		{"no type", `{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"messages","value":{"messages":[{"id":"w"}]}}]}]}`, "untyped"},
		{"interactive nfm", `{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"messages","value":{"messages":[{"id":"w","type":"interactive","interactive":{"type":"nfm_reply"}}]}}]}]}`, "interactive:nfm_reply"},
		{"status unknown", `{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"messages","value":{"statuses":[{"id":"w","status":"played"}]}}]}]}`, "status:played"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evs, err := whatsapp.Parse([]byte(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if len(evs) != 1 || evs[0].Kind != whatsapp.KindUnsupported || evs[0].Raw != tt.raw || evs[0].Key == "" {
				t.Fatalf("Parse = %+v, want one unsupported event %q with a key", evs, tt.raw)
			}
		})
	}
}
