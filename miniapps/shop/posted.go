package main

import (
	"errors"

	passerelle "github.com/passerelle/passerelle/sdk/go"
)

// purposeCollections is the standing opt-in the shop asks for: news of
// each new collection, sent with chat.notify under this purpose when the
// person has not written for a while.
const (
	purposeCollections = "new-collections"
	collectionsText    = "news of each new collection, about once a season"
	keyPosted          = "posted" // "yes" while the person allows the news, in their private scope
)

// posted reports whether the person allowed the news of new collections
// (and has not withdrawn it since, as far as the shop was told).
func posted(c *passerelle.Context) bool {
	v, err := c.PersonStore().Get(keyPosted)
	if err != nil && !errors.Is(err, passerelle.ErrNotFound) {
		c.Logf(passerelle.LevelWarn, "read whether the person wants the news: %v", err)
	}
	return v == "yes"
}

// askPosted asks the person, in a prompt the platform draws in the shop's
// name, whether the shop may send them the news of new collections.
func (s *shop) askPosted(c *passerelle.Context) error {
	if posted(c) {
		_, err := c.SendText("You already get the news of our new collections. Reply STOP at any time to stop every message from us.")
		return err
	}
	if _, err := c.RequestOptIn(purposeCollections, collectionsText); err != nil {
		return s.sorry(c, "ask whether we may write to you", err)
	}
	return nil
}

// onConsent learns the person's answer to askPosted, or that they withdrew
// it in their consent screen (no prompt, not granted, no conversation).
func (s *shop) onConsent(c *passerelle.Context, ev *passerelle.Event) error {
	k := ev.Consent
	if k == nil || k.Purpose != purposeCollections {
		return nil
	}
	if !k.Granted {
		if _, err := c.PersonStore().Delete(keyPosted); err != nil {
			c.Logf(passerelle.LevelWarn, "forget that the person wanted the news: %v", err)
		}
		if k.Prompt == "" || ev.Conversation == "" { // withdrawn where the shop cannot answer
			c.Logf(passerelle.LevelInfo, "the person no longer wants the news of new collections")
			return nil
		}
		_, err := c.SendText("No problem: we will only answer when you write to us.")
		return err
	}
	if err := c.PersonStore().Set(keyPosted, "yes"); err != nil {
		c.Logf(passerelle.LevelWarn, "remember that the person wants the news: %v", err)
	}
	_, err := c.SendText("Thank you! We will tell you when a new collection arrives. Reply STOP at any time to stop every message from us.")
	return err
}

// onOptOut forgets the news: the person stopped the shop's business (STOP,
// or in their consent screen), and an opt-in given before is spent.
func (s *shop) onOptOut(c *passerelle.Context, ev *passerelle.Event) error {
	if _, err := c.PersonStore().Delete(keyPosted); err != nil {
		c.Logf(passerelle.LevelWarn, "forget that the person wanted the news: %v", err)
	}
	return nil
}
