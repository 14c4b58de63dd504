package passerelle

// Notification is a business-initiated message (Notify): one the person
// did not just ask for, such as "your table is ready" from a timer. Inside
// the service window (the person wrote to the business within 24 hours)
// it goes out like Send; outside it, it must name the Purpose the person
// opted in to (RequestOptIn) or the Template they subscribed to
// (RequestSubscription), at most one of them.
type Notification struct {
	Message  Message
	Purpose  string
	Template string
	// Params are the values of the numbered parameters ({{1}}, {{2}}...)
	// of the WhatsApp template the merchant registered under the name of
	// Template or Purpose: where the person is on WhatsApp outside its
	// 24-hour window, the message goes as that template, filled with
	// Params in order.
	Params []string
}

// Notify sends n to the event's person in the event's conversation
// (operation chat.notify, permission "chat"; a timer event carries the
// person and conversation of the event that set it) and returns the
// message id. The consent rules may refuse it, with nothing sent: an error
// matching ErrWindowClosed (no purpose or template, outside the window),
// ErrNotOptedIn (no opt-in to the purpose, or the subscription to the
// template is used up), ErrOptedOut (the person sent STOP) or
// ErrRateLimited.
func (c *Context) Notify(n Notification) (id string, err error) {
	b := n.Message.appendJSON(c.req[:0])
	if n.Purpose != "" || n.Template != "" {
		b = b[:len(b)-1] // the message's closing brace
		if n.Purpose != "" {
			b = appendString(append(b, `,"purpose":`...), n.Purpose)
		}
		if n.Template != "" {
			b = appendString(append(b, `,"template":`...), n.Template)
		}
		for i, p := range n.Params {
			if i == 0 {
				b = append(b, `,"params":[`...)
			} else {
				b = append(b, ',')
			}
			b = appendString(b, p)
		}
		if len(n.Params) > 0 {
			b = append(b, ']')
		}
		b = append(b, '}')
	}
	c.req = b
	return c.sendReq("chat.notify", importChatNotify)
}

type askRequest struct {
	Purpose  string `json:"purpose,omitempty"`
	Template string `json:"template,omitempty"`
	Text     string `json:"text"`
}

type askResponse struct {
	Prompt string `json:"prompt"`
}

// RequestOptIn asks the event's person whether the business may send them
// messages of purpose ("updates") outside the service window, until they
// send STOP (operation consent.request_optin, permission "chat"). The
// platform draws the question, naming the business and purpose, with
// text: what the business will send, in plain words ("new collections,
// about once a month"). It returns the prompt id; the answer arrives as a
// consent event (OnConsent) whose Purpose is purpose.
func (c *Context) RequestOptIn(purpose, text string) (prompt string, err error) {
	var r askResponse
	err = c.call("consent.request_optin", importConsentRequestOptIn, &askRequest{Purpose: purpose, Text: text}, &r)
	return r.Prompt, err
}

// RequestSubscription asks the event's person for a one-time
// subscription: the business may send them one later message of template
// ("table-ready"), once (operation consent.request_subscription,
// permission "chat"); text says what it will be ("your table is ready").
// It returns the prompt id; the answer arrives as a consent event whose
// Template is template. Each accepted prompt allows one Notify.
func (c *Context) RequestSubscription(template, text string) (prompt string, err error) {
	var r askResponse
	err = c.call("consent.request_subscription", importConsentRequestSubscription, &askRequest{Template: template, Text: text}, &r)
	return r.Prompt, err
}
