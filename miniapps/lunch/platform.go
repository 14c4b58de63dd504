package main

import (
	"errors"
	"time"

	passerelle "github.com/passerelle/passerelle/sdk/go"
)

// The host operations lunch uses, in one place. Storage is always the
// person's private scope: orders and the usual belong to the person.

// getKey reads key from the person's storage; ok is false when it is absent.
func getKey(c *passerelle.Context, key string) (value string, ok bool, err error) {
	v, err := c.PersonStore().Get(key)
	switch {
	case errors.Is(err, passerelle.ErrNotFound):
		return "", false, nil
	case err != nil:
		return "", false, err
	}
	return v, true, nil
}

// setKey writes key in the person's storage.
func setKey(c *passerelle.Context, key, value string) error {
	return c.PersonStore().Set(key, value)
}

// deleteKey removes key from the person's storage.
func deleteKey(c *passerelle.Context, key string) error {
	_, err := c.PersonStore().Delete(key)
	return err
}

// scopeName is the scope a consent event names when the person answered
// the prompt for their name.
const scopeName = "identity.profile"

// profileName returns the person's display name; an error matching
// passerelle.ErrConsentRequired until they allow it (the platform has then
// asked them).
func profileName(c *passerelle.Context) (string, error) {
	p, err := c.Profile(passerelle.FieldName)
	return p.Name, err
}

// requestPayment asks the person to pay and returns the platform's order:
// a new one awaiting confirmation, or the one already made with key.
func requestPayment(c *passerelle.Context, amount int64, currency, description, key string) (passerelle.Order, error) {
	return c.RequestPayment(passerelle.PaymentRequest{Amount: amount, Currency: currency, Description: description, IdempotencyKey: key})
}

// after sets a timer that brings payload back in a timer event after d.
func after(c *passerelle.Context, d time.Duration, payload any) error {
	_, err := c.After(d, payload)
	return err
}

// templateReady is the one-time subscription lunch asks for after a
// payment: one message saying the order is ready.
const templateReady = "order-ready"

// askReady asks the person whether lunch may tell them, once, when order
// ref is ready: a host-drawn prompt; the answer comes as a consent event
// naming templateReady.
func askReady(c *passerelle.Context, ref string) (prompt string, err error) {
	return c.RequestSubscription(templateReady, "your order "+ref+" is ready")
}

// notifyReady sends the ready message from the timer, under the person's
// one-time subscription when they are no longer in the service window.
func notifyReady(c *passerelle.Context, text string) (string, error) {
	return c.Notify(passerelle.Notification{Message: passerelle.Message{Text: text}, Template: templateReady})
}

// refusedByConsent reports whether err is the consent rules refusing a
// message: nothing was sent, and nothing should be retried.
func refusedByConsent(err error) bool {
	return errors.Is(err, passerelle.ErrNotOptedIn) || errors.Is(err, passerelle.ErrWindowClosed) ||
		errors.Is(err, passerelle.ErrOptedOut) || errors.Is(err, passerelle.ErrRateLimited)
}
