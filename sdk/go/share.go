package passerelle

type shareRequest struct {
	Conversation string `json:"conversation,omitempty"`
	Card         *Card  `json:"card"`
	Payload      string `json:"payload,omitempty"`
}

type shareResponse struct {
	ID       string `json:"id"`
	Prompted bool   `json:"prompted"`
}

// Share offers the person of the event a card that opens this app (title,
// text and image only), operation chat.share, permission "chat". The
// platform asks the person where to share it; whoever presses it opens the
// app with payload as the text of the open event.
func (c *Context) Share(card Card, payload string) (id string, err error) {
	var r shareResponse
	err = c.call("chat.share", importChatShare, &shareRequest{Card: &card, Payload: payload}, &r)
	return r.ID, err
}

// ShareTo posts a card that opens this app into conversation, which the
// person of the event must be a member of (ErrNotFound otherwise).
func (c *Context) ShareTo(conversation string, card Card, payload string) (id string, err error) {
	var r shareResponse
	err = c.call("chat.share", importChatShare, &shareRequest{Conversation: conversation, Card: &card, Payload: payload}, &r)
	return r.ID, err
}
