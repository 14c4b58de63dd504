package gateway

import (
	"context"

	"github.com/passerelle/passerelle/host/consent"
)

// BusinessStanding is one business on the person's consent screen ("Who
// can message me"): what it may send them, since when and how they agreed
// (consent.Standing), with the names the person reads.
type BusinessStanding struct {
	consent.Standing
	Name string `json:"name"` // the business's display name; its id when it has none
	// Apps names the business's apps that the evidence mentions
	// (app id → display name).
	Apps map[string]string `json:"apps,omitempty"`
}

// Consents is what the consent screen reads and changes. cmd/passerelle
// implements it with host/consent (Standings, Revoke), the merchants'
// names, and runtime/apps, which tells the business's apps of a
// revocation as it tells them of STOP. When Config.Consents is nil,
// consents and revoke frames answer "unavailable".
type Consents interface {
	// Standings lists every business the person dealt with, by id.
	Standings(ctx context.Context, person string) ([]BusinessStanding, error)
	// Revoke withdraws the person's opt-in to purpose, or, with purpose
	// "", opts them out of the whole business as STOP does; surface is
	// where they did it. Revoking what is not in force changes nothing.
	Revoke(ctx context.Context, person, business, purpose, surface string) error
}

// consents answers a consents frame with the person's standings.
func (c *conn) consents(ctx context.Context, f *Frame) error {
	cs := c.s.cfg.Consents
	if cs == nil {
		return ErrUnavailable
	}
	list, err := cs.Standings(ctx, c.person)
	if err != nil {
		return err
	}
	c.replyConsents(f.ID, list)
	return nil
}

// revoke withdraws one opt-in (purpose set) or everything of one business
// the person dealt with, then answers with the standings as they are now.
func (c *conn) revoke(ctx context.Context, f *Frame) error {
	cs := c.s.cfg.Consents
	if cs == nil {
		return ErrUnavailable
	}
	list, err := cs.Standings(ctx, c.person)
	if err != nil {
		return err
	}
	var st *BusinessStanding
	for i := range list {
		if list[i].Business == f.Business {
			st = &list[i]
		}
	}
	if st == nil {
		return errorf(CodeNotFound, "you have no dealings with business %q; the consents frame lists the businesses you can revoke", f.Business)
	}
	if f.Purpose != "" && !st.OptedOut {
		held := false
		for _, e := range st.OptIns {
			held = held || e.Purpose == f.Purpose
		}
		if !held {
			return errorf(CodeNotFound, "%s has no opt-in of yours to %q; omit \"purpose\" to stop the whole business", st.Name, f.Purpose)
		}
	}
	if err := cs.Revoke(ctx, c.person, f.Business, f.Purpose, string(c.surface())); err != nil {
		return err
	}
	if list, err = cs.Standings(ctx, c.person); err != nil {
		return err
	}
	c.replyConsents(f.ID, list)
	return nil
}

func (c *conn) replyConsents(id string, list []BusinessStanding) {
	if list == nil {
		list = []BusinessStanding{}
	}
	c.reply(map[string]any{"type": "consents", "id": id, "consents": list})
}
