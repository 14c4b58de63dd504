package host

// Message is the surface-neutral chat message an app sends with chat.send and
// people send to each other. The gateway renders it for each surface: natively
// where it fits, degraded (a numbered text menu) where it does not.
// Exactly one of Text or Card is set for an app message; a card may carry text.
type Message struct {
	Text string `json:"text,omitempty"`
	Card *Card  `json:"card,omitempty"`
}

// Card is a rich message: title, text, optional image, and at most one kind
// of interaction (buttons, a list of choices or a form). Share is set on a
// card made by chat.share: pressing it opens the app.
type Card struct {
	Title   string   `json:"title,omitempty"`
	Text    string   `json:"text,omitempty"`
	Image   string   `json:"image,omitempty"` // https URL, or "asset:<name>" of an image the app ships (ABI.md, Assets)
	Buttons []Button `json:"buttons,omitempty"`
	List    *List    `json:"list,omitempty"`
	Form    *Form    `json:"form,omitempty"`
	Share   *Share   `json:"share,omitempty"`
}

// Button is a reply button. Pressing it sends the app an action event with
// the button's ID and Value.
type Button struct {
	ID    string `json:"id"`
	Title string `json:"title"`
	Value string `json:"value,omitempty"`
}

// List is a list of choices; picking one sends an action event with the item's ID.
type List struct {
	Button string     `json:"button,omitempty"` // label of the control that opens the list
	Items  []ListItem `json:"items"`
}

// ListItem is one choice of a List.
type ListItem struct {
	ID          string `json:"id"`
	Title       string `json:"title"`
	Description string `json:"description,omitempty"`
}

// Form is a simple form; submitting it sends an action event with the form's
// ID and the field values.
type Form struct {
	ID     string      `json:"id"`
	Fields []FormField `json:"fields"`
	Submit string      `json:"submit,omitempty"` // label of the submit control
}

// FormField is one input of a Form.
type FormField struct {
	Name     string `json:"name"`
	Label    string `json:"label"`
	Type     string `json:"type,omitempty"` // text (default), number, phone, email
	Required bool   `json:"required,omitempty"`
}

// Share marks a card that opens an app when pressed.
type Share struct {
	App     string `json:"app"`               // app id
	Payload string `json:"payload,omitempty"` // handed to the app in its open event's Text
}
