package passerelle

type sendResponse struct {
	ID string `json:"id"`
}

// Send posts m into the event's conversation (operation chat.send, permission
// "chat") and returns the message id.
func (c *Context) Send(m Message) (id string, err error) {
	c.req = m.appendJSON(c.req[:0])
	return c.sendReq("chat.send", importChatSend)
}

// sendReq performs op with the request in c.req and returns the message
// id it answers.
func (c *Context) sendReq(op string, imp importFunc) (id string, err error) {
	out, err := c.roundTrip(op, imp, c.req)
	if err != nil {
		return "", err
	}
	var r sendResponse
	if len(out) > 0 {
		d := decoder{b: out, shared: c.host == nil}
		if d.idOnly(&r.ID) {
			return r.ID, nil
		}
		r.decodeJSON(&d)
		if d.end(); d.err != nil {
			return "", &wrapError{op + ": decode response", d.err}
		}
	}
	return r.ID, nil
}

// SendText posts a text message into the event's conversation.
func (c *Context) SendText(text string) (id string, err error) {
	return c.Send(Message{Text: text})
}

// SendCard posts a card into the event's conversation.
func (c *Context) SendCard(card Card) (id string, err error) {
	return c.Send(Message{Card: &card})
}
