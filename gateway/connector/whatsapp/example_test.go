package whatsapp_test

import (
	"fmt"

	"github.com/passerelle/passerelle/gateway/connector/whatsapp"
)

func ExampleParse() {
	body := []byte(`{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{
		"metadata":{"phone_number_id":"106540352242922"},
		"messages":[
			{"from":"16505551234","id":"wamid.A","timestamp":"1749416383","type":"interactive",
			 "interactive":{"type":"button_reply","button_reply":{"id":"pay","title":"Pay"}}},
			{"from":"16505551234","id":"wamid.B","timestamp":"1749416384","type":"reaction",
			 "reaction":{"message_id":"wamid.X","emoji":"👍"}}],
		"statuses":[{"id":"wamid.X","status":"read","timestamp":"1749416385","recipient_id":"16505551234"}]}}]}]}`)
	events, err := whatsapp.Parse(body)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, e := range events {
		switch e.Kind {
		case whatsapp.KindButtonReply:
			fmt.Println(e.Key, e.Kind, e.ReplyID)
		case whatsapp.KindStatus:
			fmt.Println(e.Key, e.Kind, e.Status)
		default:
			fmt.Println(e.Key, e.Kind, e.Raw)
		}
	}
	// Output:
	// msg:wamid.A button_reply pay
	// msg:wamid.B unsupported reaction
	// status:wamid.X:read status read
}
