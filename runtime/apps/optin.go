package apps

import (
	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/runtime/sandbox"
)

// wants says whether sa's manifest asks for events of type typ.
func wants(sa *sandbox.App, typ string) bool {
	m := sa.Manifest()
	return m.Wants(typ)
}

// Wants says whether an app asks for events of type typ: true for the
// events every app gets; for an opt-in event (host.OptInEvents: status),
// whether its live or candidate version lists it in its manifest's
// "events". The gateway asks before it keeps such an event, so that an
// app that ignores them costs nothing.
func (r *Router) Wants(appID, typ string) bool {
	a, err := r.reg.App(appID)
	if err != nil {
		return false
	}
	for _, v := range []string{a.Live, a.Candidate} {
		if v == "" {
			continue
		}
		if sa := r.get(host.AppRef{Merchant: a.Merchant, App: a.ID, Version: v}); sa != nil {
			if wants(sa, typ) {
				return true
			}
			continue
		}
		if ver, err := r.reg.Version(appID, v); err == nil && ver.Manifest.Wants(typ) {
			return true
		}
	}
	return false
}
