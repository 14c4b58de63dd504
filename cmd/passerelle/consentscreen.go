package main

import (
	"context"

	"github.com/passerelle/passerelle/gateway"
	"github.com/passerelle/passerelle/host/consent"
	"github.com/passerelle/passerelle/host/identity"
	"github.com/passerelle/passerelle/runtime/apps"
)

// consentScreen serves the web client's "Who can message me" screen
// (gateway.Consents): the consent service's standings with the names of
// the businesses and their apps, and revocations that the business's apps
// hear of as they hear of STOP.
type consentScreen struct {
	consent  *consent.Service
	identity *identity.Service
	router   *apps.Router
}

func (s consentScreen) Standings(ctx context.Context, person string) ([]gateway.BusinessStanding, error) {
	list, err := s.consent.Standings(ctx, person)
	if err != nil {
		return nil, err
	}
	out := make([]gateway.BusinessStanding, len(list))
	for i, st := range list {
		b := gateway.BusinessStanding{Standing: st, Name: st.Business}
		if m, err := s.identity.Merchant(ctx, st.Business); err == nil && m.Name != "" {
			b.Name = m.Name
		}
		for _, e := range append(append([]consent.Evidence(nil), st.OptIns...), st.Subscriptions...) {
			if e.App == "" || b.Apps[e.App] != "" {
				continue
			}
			if b.Apps == nil {
				b.Apps = map[string]string{}
			}
			b.Apps[e.App] = e.App
			if a, err := s.router.Registry().App(e.App); err == nil && a.Merchant == st.Business && a.Name != "" {
				b.Apps[e.App] = a.Name
			}
		}
		out[i] = b
	}
	return out, nil
}

func (s consentScreen) Revoke(ctx context.Context, person, business, purpose, surface string) error {
	rec, err := s.consent.Revoke(ctx, person, business, purpose, surface)
	if err != nil {
		return err
	}
	s.router.Revoked(ctx, rec)
	return nil
}
