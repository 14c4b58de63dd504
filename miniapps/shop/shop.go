package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"

	"github.com/passerelle/passerelle/miniapps/internal/money"
	passerelle "github.com/passerelle/passerelle/sdk/go"
)

// Storage keys, in the person's private scope.
const (
	keyCart        = "cart"
	keyOrderPrefix = "order:" // + ref: the cart as it was when checked out
)

// checkout is a cart as it was checked out, kept until it is paid.
type checkout struct {
	Ref      string `json:"ref"`
	Cart     Cart   `json:"cart"`
	Total    int64  `json:"total"`
	Currency string `json:"currency"`
	Try      int    `json:"try"`
}

// maxTries bounds payment attempts on one checkout.
const maxTries = 20

func (co *checkout) key() string { return "shop:" + co.Ref + ":" + strconv.Itoa(co.Try) }

// refOfKey returns the checkout ref inside an idempotency key made by key.
func refOfKey(key string) (string, bool) {
	rest, ok := strings.CutPrefix(key, "shop:")
	if !ok {
		return "", false
	}
	ref, _, ok := strings.Cut(rest, ":")
	return ref, ok && ref != ""
}

type shop struct {
	cat Catalogue
}

// newApp returns the shop selling cat.
func newApp(cat Catalogue) *passerelle.App {
	s := &shop{cat: cat}
	app := passerelle.NewApp()
	app.OnOpen(s.onOpen)
	app.OnMessage(s.onMessage)
	app.OnAction(s.onAction)
	app.OnPayment(s.onPayment)
	app.OnConsent(s.onConsent)
	app.OnOptOut(s.onOptOut)
	return app
}

func (s *shop) money(n int64) string { return money.Format(n, s.cat.Currency) }

func (s *shop) onOpen(c *passerelle.Context, ev *passerelle.Event) error {
	return s.catalogue(c, "Welcome to Atelier Nord. What are you looking for?")
}

func (s *shop) onMessage(c *passerelle.Context, ev *passerelle.Event) error {
	switch strings.ToLower(strings.TrimSpace(ev.Text)) {
	case "cart", "basket", "bag":
		return s.showCart(c)
	case "checkout", "pay":
		return s.checkout(c)
	case "news", "keep me posted":
		return s.askPosted(c)
	}
	return s.catalogue(c, "Here is the collection. Pick an item to see it.")
}

func (s *shop) catalogue(c *passerelle.Context, text string) error {
	var items []passerelle.ListItem
	for _, p := range s.cat.Products {
		items = append(items, passerelle.ListItem{ID: "product:" + p.ID, Title: p.Name, Description: s.money(p.Price) + " · " + p.Description})
	}
	_, err := c.SendCard(passerelle.Card{Title: "Atelier Nord", Text: text, List: &passerelle.List{Button: "Browse", Items: items}})
	return err
}

func (s *shop) onAction(c *passerelle.Context, ev *passerelle.Event) error {
	a := ev.Action
	if a == nil {
		return s.catalogue(c, "Pick an item to see it.")
	}
	if id, ok := strings.CutPrefix(a.ID, "product:"); ok {
		return s.showProduct(c, id)
	}
	if size, ok := strings.CutPrefix(a.ID, "size:"); ok {
		return s.add(c, ev, a.Value, size)
	}
	switch a.ID {
	case "browse":
		return s.catalogue(c, "Pick an item to see it.")
	case "cart":
		return s.showCart(c)
	case "checkout":
		return s.checkout(c)
	case "empty":
		if _, err := c.PersonStore().Delete(keyCart); err != nil {
			return s.sorry(c, "empty your cart", err)
		}
		_, err := c.SendText("Your cart is empty.")
		return err
	case "retry":
		return s.retry(c, a.Value)
	case "keep-posted":
		return s.askPosted(c)
	}
	c.Logf(passerelle.LevelWarn, "unknown action %q", a.ID)
	return s.catalogue(c, "I did not understand that. Pick an item to see it.")
}

func (s *shop) showProduct(c *passerelle.Context, id string) error {
	p, ok := s.cat.product(id)
	if !ok {
		return s.catalogue(c, "That item is sold out. Here is what we have.")
	}
	var buttons []passerelle.Button
	for _, size := range p.Sizes {
		buttons = append(buttons, passerelle.Button{ID: "size:" + size, Title: size, Value: p.ID})
	}
	_, err := c.SendCard(passerelle.Card{Title: p.Name + " · " + s.money(p.Price), Text: p.Description + "\nPick your size to add it to your cart.",
		Image: p.Image, Buttons: buttons})
	return err
}

// cart returns the person's cart, a new empty one (with an id made from
// the event) when they have none.
func (s *shop) cart(c *passerelle.Context, ev *passerelle.Event) (Cart, error) {
	raw, err := c.PersonStore().Get(keyCart)
	switch {
	case errors.Is(err, passerelle.ErrNotFound):
		return Cart{ID: newID(ev)}, nil
	case err != nil:
		return Cart{}, err
	}
	var cart Cart
	if err := json.Unmarshal([]byte(raw), &cart); err != nil || cart.ID == "" {
		c.Logf(passerelle.LevelWarn, "damaged cart %q replaced by an empty one", raw)
		return Cart{ID: newID(ev)}, nil
	}
	return cart, nil
}

func (s *shop) saveCart(c *passerelle.Context, cart *Cart) error {
	b, err := json.Marshal(cart)
	if err != nil {
		return err
	}
	return c.PersonStore().Set(keyCart, string(b))
}

func (s *shop) add(c *passerelle.Context, ev *passerelle.Event, product, size string) error {
	cart, err := s.cart(c, ev)
	if err != nil {
		return s.sorry(c, "open your cart", err)
	}
	switch err := s.cat.Add(&cart, product, size); {
	case errors.Is(err, errNotSold):
		return s.catalogue(c, "Sorry, that item or size is not available. Here is what we have.")
	case errors.Is(err, errCartFull):
		_, err := c.SendText(fmt.Sprintf("Your cart is full (%v). Check out or empty it first.", err))
		return err
	}
	if err := s.saveCart(c, &cart); err != nil {
		return s.sorry(c, "add this to your cart", err)
	}
	p, _ := s.cat.product(product)
	total, items, _ := s.cat.Total(&cart)
	_, err = c.SendCard(passerelle.Card{
		Title: "Added to your cart",
		Text:  fmt.Sprintf("%s, size %s: %s\nCart: %d item%s, %s", p.Name, size, s.money(p.Price), items, plural(items), s.money(total)),
		Buttons: []passerelle.Button{
			{ID: "checkout", Title: "Check out"},
			{ID: "cart", Title: "View cart"},
			{ID: "browse", Title: "Keep shopping"},
		},
	})
	return err
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func (s *shop) showCart(c *passerelle.Context) error {
	raw, err := c.PersonStore().Get(keyCart)
	var cart Cart
	switch {
	case errors.Is(err, passerelle.ErrNotFound):
	case err != nil:
		return s.sorry(c, "open your cart", err)
	default:
		_ = json.Unmarshal([]byte(raw), &cart)
	}
	total, items, _ := s.cat.Total(&cart)
	if items == 0 {
		return s.catalogue(c, "Your cart is empty. Pick an item to see it.")
	}
	_, err = c.SendCard(passerelle.Card{
		Title: "Your cart",
		Text:  s.cat.Describe(&cart) + "\nTotal: " + s.money(total),
		Buttons: []passerelle.Button{
			{ID: "checkout", Title: "Check out"},
			{ID: "empty", Title: "Empty cart"},
			{ID: "browse", Title: "Keep shopping"},
		},
	})
	return err
}

// checkout keeps the cart as it is and asks the person to pay for it.
// Pressing Check out twice on the same cart asks once.
func (s *shop) checkout(c *passerelle.Context) error {
	raw, err := c.PersonStore().Get(keyCart)
	if errors.Is(err, passerelle.ErrNotFound) {
		return s.catalogue(c, "Your cart is empty. Pick an item to see it.")
	} else if err != nil {
		return s.sorry(c, "open your cart", err)
	}
	var cart Cart
	if err := json.Unmarshal([]byte(raw), &cart); err != nil {
		return s.sorry(c, "read your cart", err)
	}
	total, items, _ := s.cat.Total(&cart)
	if items == 0 {
		return s.catalogue(c, "Your cart is empty. Pick an item to see it.")
	}
	co := checkout{Ref: cart.ID + "-" + strconv.Itoa(cart.Version), Cart: cart, Total: total, Currency: s.cat.Currency, Try: 1}
	return s.pay(c, &co)
}

func (s *shop) retry(c *passerelle.Context, ref string) error {
	co, found, err := s.loadCheckout(c, ref)
	if err != nil {
		return s.sorry(c, "find that order", err)
	}
	if !found {
		return s.showCart(c)
	}
	// No new attempt number here: pay moves past attempts that already
	// failed, and a double press asks only once.
	return s.pay(c, &co)
}

func (s *shop) pay(c *passerelle.Context, co *checkout) error {
	_, items, _ := s.cat.Total(&co.Cart)
	for {
		b, err := json.Marshal(co)
		if err != nil {
			return err
		}
		if err := c.PersonStore().Set(keyOrderPrefix+co.Ref, string(b)); err != nil {
			return s.sorry(c, "take your order", err)
		}
		o, err := c.RequestPayment(passerelle.PaymentRequest{
			Amount: co.Total, Currency: co.Currency, IdempotencyKey: co.key(),
			Description: fmt.Sprintf("Atelier Nord order %s: %d item%s", co.Ref, items, plural(items)),
		})
		if err != nil {
			return s.sorry(c, "ask for the payment", err)
		}
		switch o.Status {
		case "declined", "expired":
			// This attempt already failed (the same cart checked out again):
			// ask anew.
			if co.Try < maxTries {
				co.Try++
				continue
			}
			_, err = c.SendText(fmt.Sprintf("Order %s could not be paid after %d attempts. Please write to us.", co.Ref, co.Try))
			return err
		case "paid", "partially_refunded", "refunded":
			_, err = c.SendText(fmt.Sprintf("Order %s is already paid. Thank you!", co.Ref))
			return err
		}
		_, err = c.SendText(fmt.Sprintf("Order %s: %s. Please confirm the payment in the prompt.", co.Ref, s.money(co.Total)))
		return err
	}
}

func (s *shop) loadCheckout(c *passerelle.Context, ref string) (checkout, bool, error) {
	raw, err := c.PersonStore().Get(keyOrderPrefix + ref)
	switch {
	case errors.Is(err, passerelle.ErrNotFound):
		return checkout{}, false, nil
	case err != nil:
		return checkout{}, false, err
	}
	var co checkout
	if err := json.Unmarshal([]byte(raw), &co); err != nil {
		return checkout{}, false, fmt.Errorf("order %s is damaged: %w", ref, err)
	}
	return co, true, nil
}

func (s *shop) onPayment(c *passerelle.Context, ev *passerelle.Event) error {
	p := ev.Payment
	if p == nil {
		return nil
	}
	ref, ok := refOfKey(p.IdempotencyKey)
	if !ok {
		c.Logf(passerelle.LevelWarn, "payment %s with a key this app did not make: %q", p.Order, p.IdempotencyKey)
		return nil
	}
	co, found, err := s.loadCheckout(c, ref)
	if err != nil {
		return s.sorry(c, "find your order", err)
	}
	switch p.Status {
	case "paid":
		// The order's own reference, not the platform's payment id: that one
		// means nothing to the person (it stays in the app's log).
		text := "Total paid: " + money.Format(p.Amount, p.Currency) + "\nOrder " + ref
		if found {
			text = s.cat.Describe(&co.Cart) + "\n" + text
		}
		thanks := passerelle.Card{Title: "Thank you for your order", Text: text + "\nWe ship within one working day."}
		if !posted(c) {
			// A good moment to offer the news: the person just bought.
			thanks.Text += "\nWant to hear when a new collection arrives?"
			thanks.Buttons = []passerelle.Button{{ID: "keep-posted", Title: "Keep me posted"}}
		}
		if _, err := c.SendCard(thanks); err != nil {
			return err
		}
		if found {
			if err := s.clearPaid(c, ev, &co); err != nil {
				c.Logf(passerelle.LevelWarn, "order %s: clear the cart: %v", ref, err)
			}
		}
		return nil
	case "declined", "expired":
		why := "was declined"
		switch {
		case p.Status == "expired":
			why = "expired before it was confirmed"
		case p.Reason == "insufficient_funds":
			why = "was declined: your wallet does not hold enough money"
		case p.Reason == "declined_by_person":
			why = "was declined by you"
		}
		buttons := []passerelle.Button{{ID: "cart", Title: "View cart"}}
		if found && co.Try < maxTries {
			buttons = append([]passerelle.Button{{ID: "retry", Title: "Try again", Value: ref}}, buttons...)
		}
		_, err := c.SendCard(passerelle.Card{Title: "Not paid",
			Text:    fmt.Sprintf("The payment of %s for order %s %s. Nothing was charged and your cart is kept.", money.Format(p.Amount, p.Currency), ref, why),
			Buttons: buttons})
		return err
	case "refunded", "partially_refunded":
		_, err := c.SendText(fmt.Sprintf("Refund for order %s: %s returned to your wallet.", ref, money.Format(p.Refunded, p.Currency)))
		return err
	}
	return nil
}

// clearPaid empties the cart that was paid for, or takes the paid items
// out of it if the person changed it since checking out.
func (s *shop) clearPaid(c *passerelle.Context, ev *passerelle.Event, co *checkout) error {
	store := c.PersonStore()
	cart, err := s.cart(c, ev)
	if err != nil {
		return err
	}
	if cart.ID != co.Cart.ID {
		return nil
	}
	if cart.Version == co.Cart.Version {
		_, err = store.Delete(keyCart)
	} else {
		Remove(&cart, co.Cart.Lines)
		err = s.saveCart(c, &cart)
	}
	if err != nil {
		return err
	}
	_, err = store.Delete(keyOrderPrefix + co.Ref)
	return err
}

func (s *shop) sorry(c *passerelle.Context, what string, err error) error {
	if _, serr := c.SendText("Sorry, I could not " + what + " just now. Please try again in a moment."); serr != nil {
		c.Logf(passerelle.LevelError, "tell the person: %v", serr)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// newID makes a cart id from the event that started the cart.
func newID(ev *passerelle.Event) string {
	h := fnv.New64a()
	h.Write([]byte(ev.ID + "\x00" + ev.User))
	s := strings.ToUpper(strconv.FormatUint(h.Sum64(), 36))
	return "A" + s[:min(len(s), 6)]
}
