package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
	"time"

	"github.com/passerelle/passerelle/miniapps/internal/money"
	passerelle "github.com/passerelle/passerelle/sdk/go"
)

// Driver is who comes to pick people up.
type Driver struct {
	Name, Car, Plate string
}

// Config is what the operator of the service sets when it builds the app.
type Config struct {
	Fares       Fares
	Drivers     []Driver
	ArriveAfter time.Duration // from payment to "your driver is arriving"
}

// DefaultConfig is the demo service: EUR fares, three drivers, arrival 10 s
// after payment.
func DefaultConfig() Config {
	return Config{
		Fares: Fares{Currency: "EUR", Base: 350, PerKm: 110, Van: 600},
		Drivers: []Driver{
			{Name: "Sam", Car: "grey Toyota Prius", Plate: "AB-123-CD"},
			{Name: "Inès", Car: "white Renault Zoe", Plate: "EF-456-GH"},
			{Name: "Tomasz", Car: "black Skoda Octavia", Plate: "JK-789-LM"},
		},
		ArriveAfter: 10 * time.Second,
	}
}

// Ride states.
const (
	stateQuoted    = "quoted"
	stateBooked    = "booked" // paid; the driver is on the way
	stateArrived   = "arrived"
	stateCancelled = "cancelled"
)

// maxTries bounds payment attempts on one ride.
const maxTries = 20

// ride is what the app keeps about one ride, in the person's storage under
// "ride:<id>".
type ride struct {
	ID      string  `json:"id"`
	Request Request `json:"request"`
	Quote   Quote   `json:"quote"`
	Try     int     `json:"try"`
	State   string  `json:"state"`
	Order   string  `json:"order,omitempty"` // the payment, once paid
	Timer   string  `json:"timer,omitempty"` // the arrival timer
	Driver  int     `json:"driver"`
}

func (r *ride) key() string { return "ride:" + r.ID + ":" + strconv.Itoa(r.Try) }

// idOfKey returns the ride id inside an idempotency key made by key.
func idOfKey(key string) (string, bool) {
	rest, ok := strings.CutPrefix(key, "ride:")
	if !ok {
		return "", false
	}
	id, _, ok := strings.Cut(rest, ":")
	return id, ok && id != ""
}

// arrival is the payload of the arrival timer.
type arrival struct {
	Ride string `json:"ride"`
}

type service struct {
	cfg Config
}

// newApp returns the ride app for cfg.
func newApp(cfg Config) *passerelle.App {
	s := &service{cfg: cfg}
	app := passerelle.NewApp()
	app.OnOpen(s.onOpen)
	app.OnMessage(s.onMessage)
	app.OnAction(s.onAction)
	app.OnPayment(s.onPayment)
	app.OnTimer(s.onTimer)
	return app
}

func (s *service) money(n int64) string { return money.Format(n, s.cfg.Fares.Currency) }

func (s *service) onOpen(c *passerelle.Context, ev *passerelle.Event) error {
	return s.form(c, "Where are you going? Fill in the form for a price.")
}

func (s *service) onMessage(c *passerelle.Context, ev *passerelle.Event) error {
	return s.form(c, "Fill in the form to get a price for your ride.")
}

func (s *service) form(c *passerelle.Context, text string) error {
	_, err := c.SendCard(passerelle.Card{
		Title: "Book a ride",
		Text:  text,
		Form: &passerelle.Form{ID: "ride", Submit: "Get a price", Fields: []passerelle.FormField{
			{Name: "pickup", Label: "Pick-up address", Required: true},
			{Name: "dropoff", Label: "Destination", Required: true},
			{Name: "passengers", Label: "Passengers (1-6)", Type: "number"},
		}},
	})
	return err
}

func (s *service) onAction(c *passerelle.Context, ev *passerelle.Event) error {
	a := ev.Action
	if a == nil {
		return s.form(c, "Fill in the form to get a price for your ride.")
	}
	switch a.ID {
	case "ride":
		return s.quote(c, ev)
	case "change":
		return s.form(c, "Where are you going?")
	case "book", "retry":
		return s.book(c, a.Value)
	case "cancel":
		return s.cancel(c, a.Value)
	}
	c.Logf(passerelle.LevelWarn, "unknown action %q", a.ID)
	return s.form(c, "I did not understand that. Fill in the form to get a price.")
}

func (s *service) quote(c *passerelle.Context, ev *passerelle.Event) error {
	req, err := ParseRequest(ev.Action.Fields)
	if err != nil {
		msg := strings.TrimPrefix(err.Error(), errBadRequest.Error()+": ")
		return s.form(c, "Almost: "+msg+".")
	}
	q := s.cfg.Fares.Price(req)
	r := ride{ID: rideID(ev), Request: req, Quote: q, Try: 1, State: stateQuoted}
	if err := s.save(c, &r); err != nil {
		return s.sorry(c, "prepare your ride", err)
	}
	seats := "up to 4"
	if q.Vehicle == "Van" {
		seats = "up to 6"
	}
	_, err = c.SendCard(passerelle.Card{
		Title: "Your ride · " + s.money(q.Price),
		Text: fmt.Sprintf("From: %s\nTo: %s\nAbout %d km, %d min\n%s (%s), %d passenger%s",
			req.Pickup, req.Dropoff, q.Km, q.Minutes, q.Vehicle, seats, req.Passengers, plural(req.Passengers)),
		Buttons: []passerelle.Button{
			{ID: "book", Title: "Book " + s.money(q.Price), Value: r.ID},
			{ID: "change", Title: "Change"},
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

// book asks the person to pay for a quoted ride.
func (s *service) book(c *passerelle.Context, id string) error {
	r, found, err := s.load(c, id)
	if err != nil {
		return s.sorry(c, "find your ride", err)
	}
	if !found {
		return s.form(c, "That quote is no longer valid. Where are you going?")
	}
	if r.State != stateQuoted {
		_, err := c.SendText(fmt.Sprintf("Ride %s is already %s.", r.ID, r.State))
		return err
	}
	// A retry needs no new attempt number here: the loop below moves past
	// attempts that already failed, and a double press asks only once.
	for {
		if err := s.save(c, &r); err != nil {
			return s.sorry(c, "book your ride", err)
		}
		o, err := c.RequestPayment(passerelle.PaymentRequest{
			Amount: r.Quote.Price, Currency: s.cfg.Fares.Currency, IdempotencyKey: r.key(),
			Description: clip("Ride "+r.ID+": "+r.Request.Pickup+" → "+r.Request.Dropoff, 200),
		})
		if err != nil {
			return s.sorry(c, "ask for the payment", err)
		}
		if (o.Status == "declined" || o.Status == "expired") && r.Try < maxTries {
			r.Try++ // this attempt already failed: ask anew
			continue
		}
		if o.Status != "awaiting_confirmation" {
			_, err := c.SendText(fmt.Sprintf("Ride %s: the payment is %s.", r.ID, strings.ReplaceAll(o.Status, "_", " ")))
			return err
		}
		break
	}
	_, err = c.SendText(fmt.Sprintf("Ride %s: %s. Please confirm the payment in the prompt and I will send a driver.", r.ID, s.money(r.Quote.Price)))
	return err
}

func (s *service) onPayment(c *passerelle.Context, ev *passerelle.Event) error {
	p := ev.Payment
	if p == nil {
		return nil
	}
	id, ok := idOfKey(p.IdempotencyKey)
	if !ok {
		c.Logf(passerelle.LevelWarn, "payment %s with a key this app did not make: %q", p.Order, p.IdempotencyKey)
		return nil
	}
	r, found, err := s.load(c, id)
	if err != nil {
		return s.sorry(c, "find your ride", err)
	}
	if !found {
		c.Logf(passerelle.LevelWarn, "payment %s (%s) for unknown ride %s", p.Order, p.Status, id)
		return nil
	}
	switch p.Status {
	case "paid":
		return s.dispatchDriver(c, &r, p)
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
		buttons := []passerelle.Button{{ID: "change", Title: "New ride"}}
		if r.State == stateQuoted && r.Try < maxTries {
			buttons = append([]passerelle.Button{{ID: "retry", Title: "Try again", Value: r.ID}}, buttons...)
		}
		_, err := c.SendCard(passerelle.Card{Title: "Not booked",
			Text:    fmt.Sprintf("The payment of %s for ride %s %s. Nothing was charged and no driver was sent.", money.Format(p.Amount, p.Currency), r.ID, why),
			Buttons: buttons})
		return err
	case "refunded", "partially_refunded":
		if r.State == stateCancelled {
			return nil // the person cancelled and was told then
		}
		_, err := c.SendText(fmt.Sprintf("Refund for ride %s: %s is back in your wallet.", r.ID, money.Format(p.Refunded, p.Currency)))
		return err
	}
	return nil
}

func (s *service) dispatchDriver(c *passerelle.Context, r *ride, p *passerelle.Payment) error {
	if r.State != stateQuoted {
		return nil // already handled
	}
	d := s.driver(r)
	r.State, r.Order = stateBooked, p.Order
	id, err := c.After(s.cfg.ArriveAfter, arrival{Ride: r.ID})
	if err != nil {
		c.Logf(passerelle.LevelError, "ride %s: set the arrival timer: %v", r.ID, err)
	}
	r.Timer = id
	if err := s.save(c, r); err != nil {
		c.Logf(passerelle.LevelError, "ride %s: keep the booking: %v", r.ID, err)
	}
	_, err = c.SendCard(passerelle.Card{
		Title: "Booked · ride " + r.ID,
		Text: fmt.Sprintf("Paid %s. %s is on the way in a %s (%s), arriving at %s in about %s.",
			money.Format(p.Amount, p.Currency), d.Name, d.Car, d.Plate, r.Request.Pickup, roundDuration(s.cfg.ArriveAfter)),
		Buttons: []passerelle.Button{{ID: "cancel", Title: "Cancel ride", Value: r.ID}},
	})
	return err
}

func (s *service) driver(r *ride) Driver {
	h := fnv.New32a()
	h.Write([]byte(r.ID))
	return s.cfg.Drivers[int(h.Sum32()%uint32(len(s.cfg.Drivers)))]
}

func (s *service) onTimer(c *passerelle.Context, ev *passerelle.Event) error {
	if ev.Timer == nil {
		return nil
	}
	var a arrival
	if err := json.Unmarshal(ev.Timer.Payload, &a); err != nil || a.Ride == "" {
		c.Logf(passerelle.LevelWarn, "timer %s with an unknown payload %s", ev.Timer.ID, ev.Timer.Payload)
		return nil
	}
	r, found, err := s.load(c, a.Ride)
	if err != nil || !found || r.State != stateBooked {
		return err // cancelled meanwhile, or gone: nothing to say
	}
	r.State = stateArrived
	if err := s.save(c, &r); err != nil {
		c.Logf(passerelle.LevelWarn, "ride %s: %v", r.ID, err)
	}
	d := s.driver(&r)
	_, err = c.SendText(fmt.Sprintf("%s is arriving at %s. Look for the %s, %s.", d.Name, r.Request.Pickup, d.Car, d.Plate))
	return err
}

// cancel cancels a booked ride before the driver arrives: the arrival
// timer is cancelled and the payment refunded in full.
func (s *service) cancel(c *passerelle.Context, id string) error {
	r, found, err := s.load(c, id)
	if err != nil {
		return s.sorry(c, "find your ride", err)
	}
	switch {
	case !found:
		return s.form(c, "I do not know that ride. Where are you going?")
	case r.State == stateQuoted:
		_, err := c.SendText(fmt.Sprintf("Ride %s was not booked; nothing to cancel.", r.ID))
		return err
	case r.State == stateArrived:
		_, err := c.SendText(fmt.Sprintf("Your driver has already arrived for ride %s; it can no longer be cancelled here.", r.ID))
		return err
	case r.State == stateCancelled:
		_, err := c.SendText(fmt.Sprintf("Ride %s is already cancelled.", r.ID))
		return err
	}
	// The ride is marked cancelled before the refund: the refund's payment
	// event may be handled while this event still runs, and it must find
	// the ride cancelled (and stay quiet: the person is told here).
	r.State = stateCancelled
	if err := s.save(c, &r); err != nil {
		return s.sorry(c, "cancel your ride", err)
	}
	if r.Timer != "" {
		if err := c.CancelTimer(r.Timer); err != nil && !errors.Is(err, passerelle.ErrNotFound) {
			c.Logf(passerelle.LevelWarn, "ride %s: cancel the arrival timer: %v", r.ID, err)
		}
	}
	o, err := c.Refund(r.Order, 0, "ride:"+r.ID+":cancel")
	if err != nil {
		r.State = stateBooked
		if serr := s.save(c, &r); serr != nil {
			c.Logf(passerelle.LevelError, "ride %s: undo the cancellation: %v", r.ID, serr)
		}
		return s.sorry(c, "cancel your ride", err)
	}
	_, err = c.SendText(fmt.Sprintf("Ride %s is cancelled. %s goes back to your wallet.", r.ID, money.Format(o.Refunded, o.Currency)))
	return err
}

func (s *service) save(c *passerelle.Context, r *ride) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return c.PersonStore().Set("ride:"+r.ID, string(b))
}

func (s *service) load(c *passerelle.Context, id string) (ride, bool, error) {
	if id == "" || len(id) > 40 {
		return ride{}, false, nil
	}
	raw, err := c.PersonStore().Get("ride:" + id)
	switch {
	case errors.Is(err, passerelle.ErrNotFound):
		return ride{}, false, nil
	case err != nil:
		return ride{}, false, err
	}
	var r ride
	if err := json.Unmarshal([]byte(raw), &r); err != nil {
		return ride{}, false, fmt.Errorf("ride %s is damaged: %w", id, err)
	}
	return r, true, nil
}

func (s *service) sorry(c *passerelle.Context, what string, err error) error {
	if _, serr := c.SendText("Sorry, I could not " + what + " just now. Please try again in a moment."); serr != nil {
		c.Logf(passerelle.LevelError, "tell the person: %v", serr)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// rideID makes a ride id from the event that asked for the quote.
func rideID(ev *passerelle.Event) string {
	h := fnv.New64a()
	h.Write([]byte(ev.ID + "\x00" + ev.User))
	s := strings.ToUpper(strconv.FormatUint(h.Sum64(), 36))
	return "R" + s[:min(len(s), 6)]
}

// clip cuts s to at most n bytes on a rune boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}

// roundDuration writes d for people: "10 seconds", "4 minutes".
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
