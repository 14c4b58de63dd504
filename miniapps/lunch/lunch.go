package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/passerelle/passerelle/miniapps/internal/money"
	passerelle "github.com/passerelle/passerelle/sdk/go"
)

// Config is what a kitchen sets when it builds the app.
type Config struct {
	Menu       Menu
	ReadyAfter time.Duration // from payment to "your order is ready"
}

// DefaultConfig is the demo kitchen: four dishes in EUR, ready 5 s after
// payment.
func DefaultConfig() Config {
	return Config{
		Menu: Menu{
			Currency: "EUR",
			Dishes: []Dish{
				{ID: "soup", Name: "Tomato soup", Description: "basil, croutons", Price: 650},
				{ID: "salad", Name: "Caesar salad", Description: "chicken, parmesan", Price: 890},
				{ID: "burger", Name: "Veggie burger", Description: "halloumi, pickles", Price: 1150},
				{ID: "bowl", Name: "Poke bowl", Description: "salmon, rice, edamame", Price: 1290},
			},
			Sizes: []Option{{ID: "regular", Name: "Regular"}, {ID: "large", Name: "Large", Extra: 250}},
			Sides: []Option{{ID: "none", Name: "No side"}, {ID: "fries", Name: "Fries", Extra: 300}, {ID: "greens", Name: "Side salad", Extra: 250}},
		},
		ReadyAfter: 5 * time.Second,
	}
}

// Storage keys, all in the person's private scope.
const (
	keyUsual       = "usual"   // the Choice of the person's last paid order
	keyOrderPrefix = "order:"  // + ref: the record of an order being paid or prepared
	keyWaiting     = "waiting" // the Draft (encoded) of the checkout waiting for the person's consent
)

// record is what the app keeps about an order from the payment request
// until the food is ready.
type record struct {
	Ref      string `json:"ref"`
	Nonce    string `json:"nonce"`
	Choice   Choice `json:"choice"`
	Try      int    `json:"try"`
	Name     string `json:"name,omitempty"`
	Total    int64  `json:"total"`
	Currency string `json:"currency"`
}

func (r *record) draft() Draft { return Draft{Nonce: r.Nonce, Choice: r.Choice, Try: r.Try} }

// readyPayload is what the app gives timer.after and gets back.
type readyPayload struct {
	Kind string `json:"kind"` // "ready"
	Ref  string `json:"ref"`
}

// lunch is the app: its configuration and handlers.
type lunch struct {
	cfg Config
}

// newApp returns the lunch app for cfg.
func newApp(cfg Config) *passerelle.App {
	l := &lunch{cfg: cfg}
	app := passerelle.NewApp()
	app.OnOpen(l.onOpen)
	app.OnMessage(l.onMessage)
	app.OnAction(l.onAction)
	app.OnPayment(l.onPayment)
	app.OnTimer(l.onTimer)
	app.OnConsent(l.onConsent)
	app.OnStatus(l.onStatus)
	return app
}

func (l *lunch) money(amount int64) string { return money.Format(amount, l.cfg.Menu.Currency) }

func (l *lunch) onOpen(c *passerelle.Context, ev *passerelle.Event) error {
	return l.showMenu(c, takeMissed(c)+"What would you like today?")
}

func (l *lunch) onMessage(c *passerelle.Context, ev *passerelle.Event) error {
	text := strings.ToLower(strings.TrimSpace(ev.Text))
	switch text {
	case "usual", "the usual":
		return l.orderUsual(c, ev)
	case "menu", "hi", "hello", "":
		return l.showMenu(c, takeMissed(c)+"What would you like today?")
	}
	return l.showMenu(c, takeMissed(c)+`Pick a dish from the menu (or type "usual" for your usual).`)
}

// showMenu draws the menu as a list, with the person's usual on top when
// they have one.
func (l *lunch) showMenu(c *passerelle.Context, text string) error {
	m := &l.cfg.Menu
	var items []passerelle.ListItem
	if usual, ok, err := l.usual(c); err != nil {
		c.Logf(passerelle.LevelWarn, "menu without the usual: %v", err)
	} else if ok {
		price, _ := m.Price(usual)
		items = append(items, passerelle.ListItem{ID: "usual", Title: "The usual",
			Description: m.Describe(usual) + " · " + l.money(price)})
	}
	for _, d := range m.Dishes {
		items = append(items, passerelle.ListItem{ID: "dish:" + d.ID, Title: d.Name,
			Description: l.money(d.Price) + " · " + d.Description})
	}
	_, err := c.SendCard(passerelle.Card{
		Title: "Lunch menu",
		Text:  text,
		List:  &passerelle.List{Button: "See the menu", Items: items},
	})
	return err
}

// usual returns the choice of the person's last paid order, if it is still
// on the menu.
func (l *lunch) usual(c *passerelle.Context) (Choice, bool, error) {
	raw, ok, err := getKey(c, keyUsual)
	if err != nil || !ok {
		return Choice{}, false, err
	}
	var ch Choice
	if json.Unmarshal([]byte(raw), &ch) != nil {
		return Choice{}, false, nil
	}
	if _, err := l.cfg.Menu.Price(ch); err != nil {
		return Choice{}, false, nil // the dish left the menu
	}
	return ch, true, nil
}

func (l *lunch) orderUsual(c *passerelle.Context, ev *passerelle.Event) error {
	ch, ok, err := l.usual(c)
	if err != nil {
		return l.sorry(c, "look up your usual", err)
	}
	if !ok {
		return l.showMenu(c, "You have no usual yet: your first order becomes it. What would you like?")
	}
	return l.checkout(c, Draft{Nonce: newNonce(ev.ID, ev.User), Choice: ch, Try: 1})
}

func (l *lunch) onAction(c *passerelle.Context, ev *passerelle.Event) error {
	a := ev.Action
	if a == nil {
		return l.showMenu(c, "What would you like today?")
	}
	m := &l.cfg.Menu
	if dish, ok := strings.CutPrefix(a.ID, "dish:"); ok {
		if _, ok := m.dish(dish); !ok {
			return l.showMenu(c, "That dish is not on the menu any more. What else would you like?")
		}
		return l.askSize(c, Draft{Nonce: newNonce(ev.ID, ev.User), Choice: Choice{Dish: dish}})
	}
	switch a.ID {
	case "usual":
		return l.orderUsual(c, ev)
	case "menu":
		return l.showMenu(c, "What would you like today?")
	case "cancel":
		_, err := c.SendText(`No problem, nothing was ordered. Type "menu" whenever you are hungry.`)
		return err
	}
	d, err := DecodeDraft(a.Value)
	if err == nil {
		_, err = m.Price(Choice{Dish: d.Dish, Size: orDefault(d.Size, m.Sizes), Side: orDefault(d.Side, m.Sides)})
	}
	if err != nil {
		c.Logf(passerelle.LevelWarn, "action %q with value %q: %v", a.ID, a.Value, err)
		return l.showMenu(c, "Sorry, I lost track of that order. Please pick again.")
	}
	switch {
	case strings.HasPrefix(a.ID, "size:"):
		d.Size = strings.TrimPrefix(a.ID, "size:")
		if _, ok := findOption(m.Sizes, d.Size); !ok {
			d.Size = ""
			return l.askSize(c, d)
		}
		return l.askSide(c, d)
	case strings.HasPrefix(a.ID, "side:"):
		if d.Size == "" {
			return l.askSize(c, d)
		}
		d.Side = strings.TrimPrefix(a.ID, "side:")
		if _, ok := findOption(m.Sides, d.Side); !ok {
			d.Side = ""
			return l.askSide(c, d)
		}
		d.Try = 1
		return l.checkout(c, d)
	case a.ID == "continue", a.ID == "retry", a.ID == "anon":
		if d.Size == "" || d.Side == "" || d.Try == 0 {
			return l.askSize(c, d)
		}
		if a.ID == "anon" {
			d.Anon = true
		}
		if a.ID != "retry" {
			// Continued by hand: the consent event must not continue it again.
			l.forgetWaiting(c)
		}
		return l.checkout(c, d)
	}
	c.Logf(passerelle.LevelWarn, "unknown action %q", a.ID)
	return l.showMenu(c, "I did not understand that. What would you like?")
}

func orDefault(id string, opts []Option) string {
	if id == "" {
		return opts[0].ID
	}
	return id
}

func (l *lunch) askSize(c *passerelle.Context, d Draft) error {
	m := &l.cfg.Menu
	dish, _ := m.dish(d.Dish)
	var buttons []passerelle.Button
	for _, s := range m.Sizes {
		buttons = append(buttons, passerelle.Button{ID: "size:" + s.ID,
			Title: s.Name + " " + l.money(dish.Price+s.Extra), Value: d.Encode()})
	}
	_, err := c.SendCard(passerelle.Card{Title: dish.Name, Text: "Which size?", Buttons: buttons})
	return err
}

func (l *lunch) askSide(c *passerelle.Context, d Draft) error {
	m := &l.cfg.Menu
	var buttons []passerelle.Button
	for _, s := range m.Sides {
		title := s.Name
		if s.Extra > 0 {
			title += " +" + l.money(s.Extra)
		}
		buttons = append(buttons, passerelle.Button{ID: "side:" + s.ID, Title: title, Value: d.Encode()})
	}
	_, err := c.SendCard(passerelle.Card{Title: m.Describe(Choice{Dish: d.Dish, Size: d.Size, Side: m.Sides[0].ID}),
		Text: "Anything on the side?", Buttons: buttons})
	return err
}

// checkout asks for the person's name (once they allowed it), keeps the
// order and requests the payment.
func (l *lunch) checkout(c *passerelle.Context, d Draft) error {
	m := &l.cfg.Menu
	total, err := m.Price(d.Choice)
	if err != nil {
		return l.showMenu(c, "Sorry, that is not on the menu any more. Please pick again.")
	}
	var name string
	if !d.Anon {
		name, err = profileName(c)
		switch {
		case errors.Is(err, passerelle.ErrConsentRequired):
			// The platform asks the person once this event commits, with
			// the waiting order written: their answer comes back as a
			// consent event, which continues this checkout (onConsent). The
			// buttons stay for people who answered elsewhere or earlier.
			if err := setKey(c, keyWaiting, d.Encode()); err != nil {
				c.Logf(passerelle.LevelWarn, "order %s: remember it until the consent: %v", d.Ref(), err)
			}
			_, err := c.SendCard(passerelle.Card{
				Title: "May I have your name?",
				Text:  "The kitchen calls orders by name. I asked for your permission to see it; I will continue as soon as you allow it (or press Continue).",
				Buttons: []passerelle.Button{
					{ID: "continue", Title: "Continue", Value: d.Encode()},
					{ID: "anon", Title: "Order without name", Value: d.Encode()},
				},
			})
			return err
		case err != nil:
			c.Logf(passerelle.LevelWarn, "ordering without a name: %v", err)
			name = ""
		}
	}
	for {
		// The record commits with the request: the payment event finds it.
		rec := record{Ref: d.Ref(), Nonce: d.Nonce, Choice: d.Choice, Try: d.Try, Name: name, Total: total, Currency: m.Currency}
		if err := putRecord(c, &rec); err != nil {
			return l.sorry(c, "take your order", err)
		}
		o, err := requestPayment(c, total, m.Currency, "Lunch "+rec.Ref+": "+m.Describe(d.Choice), d.IdempotencyKey())
		if err != nil {
			return l.sorry(c, "ask for the payment", err)
		}
		switch o.Status {
		case "declined", "expired":
			// This attempt already failed (the same choice pressed again
			// after a decline): ask anew.
			if d.Try < maxTries {
				d.Try++
				continue
			}
			_, err := c.SendText(fmt.Sprintf("Order %s could not be paid after %d attempts. Please start a new order from the menu.", rec.Ref, d.Try))
			return err
		case "paid", "partially_refunded", "refunded":
			_, err := c.SendText(fmt.Sprintf("Order %s is already paid. The kitchen is on it!", rec.Ref))
			return err
		}
		break
	}
	greeting := "Thanks"
	if name != "" {
		greeting += ", " + name
	}
	_, err = c.SendText(fmt.Sprintf("%s! Order %s: %s, %s. Please confirm the payment in the prompt.",
		greeting, d.Ref(), m.Describe(d.Choice), l.money(total)))
	return err
}

// onConsent continues the checkout that waited for the person's answer to
// the name prompt: with their name if they allowed it, without it if they
// refused.
func (l *lunch) onConsent(c *passerelle.Context, ev *passerelle.Event) error {
	k := ev.Consent
	if k == nil || !k.Has(scopeName) {
		return nil
	}
	raw, ok, err := getKey(c, keyWaiting)
	if err != nil {
		return l.sorry(c, "find your order", err)
	}
	if !ok {
		return nil // nothing waits: the person went on with the buttons
	}
	l.forgetWaiting(c)
	d, err := DecodeDraft(raw)
	if err != nil || d.Size == "" || d.Side == "" || d.Try == 0 {
		c.Logf(passerelle.LevelWarn, "waiting order %q cannot continue: %v", raw, err)
		return l.showMenu(c, "Sorry, I lost track of that order. Please pick again.")
	}
	if !k.Granted {
		d.Anon = true
	}
	return l.checkout(c, d)
}

// forgetWaiting deletes the checkout waiting for consent, if any.
func (l *lunch) forgetWaiting(c *passerelle.Context) {
	if err := deleteKey(c, keyWaiting); err != nil {
		c.Logf(passerelle.LevelWarn, "forget the order waiting for consent: %v", err)
	}
}

func (l *lunch) onPayment(c *passerelle.Context, ev *passerelle.Event) error {
	p := ev.Payment
	if p == nil {
		return nil
	}
	ref, ok := refOfKey(p.IdempotencyKey)
	if !ok {
		c.Logf(passerelle.LevelWarn, "payment %s with a key this app did not make: %q", p.Order, p.IdempotencyKey)
		return nil
	}
	rec, found, err := getRecord(c, ref)
	if err != nil {
		return l.sorry(c, "find your order", err)
	}
	if !found {
		c.Logf(passerelle.LevelWarn, "payment %s (%s) for unknown order %s", p.Order, p.Status, ref)
		rec = record{Ref: ref, Total: p.Amount, Currency: p.Currency}
	}
	if found && (p.Amount != rec.Total || p.Currency != rec.Currency) {
		c.Logf(passerelle.LevelError, "payment %s for order %s is %d %s, the order costs %d %s", p.Order, ref, p.Amount, p.Currency, rec.Total, rec.Currency)
	}
	switch p.Status {
	case "paid":
		return l.paid(c, &rec, p)
	case "declined", "expired":
		return l.notPaid(c, &rec, p, found)
	case "refunded", "partially_refunded":
		_, err := c.SendText(fmt.Sprintf("Refund for order %s: %s returned to your wallet.", ref, money.Format(p.Refunded, p.Currency)))
		return err
	}
	c.Logf(passerelle.LevelWarn, "payment %s has unknown status %q", p.Order, p.Status)
	return nil
}

func (l *lunch) paid(c *passerelle.Context, rec *record, p *passerelle.Payment) error {
	m := &l.cfg.Menu
	var lines []string
	if d, ok := m.dish(rec.Choice.Dish); ok {
		lines = append(lines, d.Name+": "+money.Format(d.Price, p.Currency))
		if s, ok := findOption(m.Sizes, rec.Choice.Size); ok && s.Extra != 0 {
			lines = append(lines, s.Name+": +"+money.Format(s.Extra, p.Currency))
		}
		if s, ok := findOption(m.Sides, rec.Choice.Side); ok && s.Extra != 0 {
			lines = append(lines, s.Name+": +"+money.Format(s.Extra, p.Currency))
		}
	}
	lines = append(lines, "Total paid: "+money.Format(p.Amount, p.Currency), "Order "+rec.Ref) // not the platform's payment id, which means nothing to the person
	if _, err := c.SendCard(passerelle.Card{Title: "Receipt", Text: strings.Join(lines, "\n")}); err != nil {
		return err
	}
	if rec.Choice.Dish != "" {
		b, _ := json.Marshal(rec.Choice)
		if err := setKey(c, keyUsual, string(b)); err != nil {
			c.Logf(passerelle.LevelWarn, "order %s: remember the usual: %v", rec.Ref, err)
		}
	}
	if err := after(c, l.cfg.ReadyAfter, readyPayload{Kind: "ready", Ref: rec.Ref}); err != nil {
		c.Logf(passerelle.LevelError, "order %s: set the ready timer: %v", rec.Ref, err)
		_, err := c.SendText("The kitchen has your order; it will be ready shortly.")
		return err
	}
	if _, err := c.SendText(fmt.Sprintf("The kitchen is on it: ready in about %s.", roundDuration(l.cfg.ReadyAfter))); err != nil {
		return err
	}
	// The person may have left the conversation by the time the food is
	// ready: ask them for the one message that says so.
	if _, err := askReady(c, rec.Ref); err != nil {
		c.Logf(passerelle.LevelWarn, "order %s: ask to tell when it is ready: %v", rec.Ref, err)
	}
	return nil
}

func (l *lunch) notPaid(c *passerelle.Context, rec *record, p *passerelle.Payment, found bool) error {
	amount := money.Format(p.Amount, p.Currency)
	var text string
	switch {
	case p.Status == "expired":
		text = fmt.Sprintf("The payment request of %s for order %s expired before it was confirmed. Nothing was charged.", amount, rec.Ref)
	case p.Reason == "insufficient_funds":
		text = fmt.Sprintf("The payment of %s for order %s was declined: your wallet does not hold enough money. Nothing was charged. Top up your wallet, then press Try again.", amount, rec.Ref)
	case p.Reason == "declined_by_person":
		text = fmt.Sprintf("You declined the payment of %s for order %s. Nothing was charged.", amount, rec.Ref)
	default:
		text = fmt.Sprintf("The payment of %s for order %s was declined. Nothing was charged.", amount, rec.Ref)
	}
	buttons := []passerelle.Button{{ID: "menu", Title: "Back to the menu"}}
	if found && rec.Try < maxTries {
		d := rec.draft()
		d.Try++
		d.Anon = rec.Name == ""
		buttons = append([]passerelle.Button{{ID: "retry", Title: "Try again", Value: d.Encode()}}, buttons...)
	}
	_, err := c.SendCard(passerelle.Card{Title: "Not paid", Text: text, Buttons: buttons})
	return err
}

func (l *lunch) onTimer(c *passerelle.Context, ev *passerelle.Event) error {
	if ev.Timer == nil {
		return nil
	}
	var p readyPayload
	if err := json.Unmarshal(ev.Timer.Payload, &p); err != nil || p.Kind != "ready" {
		c.Logf(passerelle.LevelWarn, "timer %s with an unknown payload %s", ev.Timer.ID, ev.Timer.Payload)
		return nil
	}
	rec, found, err := getRecord(c, p.Ref)
	if err != nil {
		c.Logf(passerelle.LevelWarn, "order %s: %v", p.Ref, err)
	}
	text := "Your order " + p.Ref + " is ready. Enjoy your lunch!"
	if found {
		who := "Your"
		if rec.Name != "" {
			who = rec.Name + ", your"
		}
		text = fmt.Sprintf("%s order %s is ready: %s. Enjoy your lunch!", who, rec.Ref, l.cfg.Menu.Describe(rec.Choice))
	}
	if id, err := notifyReady(c, text); err == nil {
		noteNotice(c, id, p.Ref)
	} else {
		if !refusedByConsent(err) {
			return err
		}
		// The person did not ask to be told (or stopped us): the order
		// is ready all the same, and nothing reaches them.
		c.Logf(passerelle.LevelInfo, "order %s is ready; the person is not told: %v", p.Ref, err)
	}
	if found {
		if err := deleteKey(c, keyOrderPrefix+p.Ref); err != nil {
			c.Logf(passerelle.LevelWarn, "order %s: forget it: %v", p.Ref, err)
		}
	}
	return nil
}

// sorry tells the person something failed and returns the error, so the
// platform counts the failed event.
func (l *lunch) sorry(c *passerelle.Context, what string, err error) error {
	if _, serr := c.SendText("Sorry, I could not " + what + " just now. Please try again in a moment."); serr != nil {
		c.Logf(passerelle.LevelError, "tell the person: %v", serr)
	}
	return fmt.Errorf("%s: %w", what, err)
}

func putRecord(c *passerelle.Context, r *record) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return setKey(c, keyOrderPrefix+r.Ref, string(b))
}

func getRecord(c *passerelle.Context, ref string) (record, bool, error) {
	raw, ok, err := getKey(c, keyOrderPrefix+ref)
	if err != nil || !ok {
		return record{}, false, err
	}
	var r record
	if err := json.Unmarshal([]byte(raw), &r); err != nil {
		return record{}, false, fmt.Errorf("order %s: stored record is damaged: %w", ref, err)
	}
	return r, true, nil
}

// roundDuration writes d for people: "5 seconds", "2 minutes".
func roundDuration(d time.Duration) string {
	switch {
	case d < 2*time.Second:
		return "a second"
	case d < 2*time.Minute:
		return fmt.Sprintf("%d seconds", int64(d/time.Second))
	default:
		return fmt.Sprintf("%d minutes", int64(d/time.Minute))
	}
}
