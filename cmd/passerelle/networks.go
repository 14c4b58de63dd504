package main

import (
	"log/slog"

	"github.com/passerelle/passerelle/gateway/connector"
	"github.com/passerelle/passerelle/gateway/connector/bridge"
	"github.com/passerelle/passerelle/gateway/connector/messenger"
	"github.com/passerelle/passerelle/gateway/connector/whatsapp"
	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/runtime/registry"
)

// networks is the platform's part on WhatsApp, Messenger and Instagram:
// the inboxes the webhooks record into and the connector runtime that
// reads them and sends the apps' answers.
type networks struct {
	whatsapp  *whatsapp.Store
	messenger *messenger.Store
	bridge    *bridge.Bridge
}

// startNetworks starts the connector runtime over conns, reading the
// inboxes the webhook routes record into (openConnections opened them).
// The webhook routes record through WhatsAppRecorder and MessengerRecorder,
// which wake the runtime.
func (p *platform) startNetworks(conns connector.Connections, log *slog.Logger) error {
	n := &networks{whatsapp: p.waInbox, messenger: p.msInbox}
	var err error
	met := bridge.NewMetrics()
	if err := p.gateway.Registerer().Register(met); err != nil {
		return err
	}
	tmpls, _ := conns.(bridge.Templates) // connstore keeps the merchants' WhatsApp templates
	if n.bridge, err = bridge.New(bridge.Config{
		Templates: tmpls, Server: p.gateway, States: p.gateway, Connections: conns, DB: p.db, Identity: p.svc.Identity, Consent: p.svc.Consent,
		WhatsApp: n.whatsapp, Messenger: n.messenger, Metrics: met, Logger: log.With("component", "connectors"),
		Elsewhere: p.answeredElsewhere,
		AppLog: func(ref host.AppRef, level slog.Level, code, msg string) {
			p.registry.AppendLog(ref, registry.LogRecord{Level: level.String(), Source: "connector", Kind: code, Message: msg})
		},
	}); err != nil {
		return err
	}
	p.networks = n
	return n.bridge.Start()
}

// WhatsAppRecorder is where the WhatsApp webhook routes record events.
func (n *networks) WhatsAppRecorder() connector.Recorder[whatsapp.Event] {
	return bridge.Recorder[whatsapp.Event]{Store: n.whatsapp, Bridge: n.bridge, Network: connector.NetworkWhatsApp}
}

// MessengerRecorder is where the Messenger and Instagram webhook routes
// record events.
func (n *networks) MessengerRecorder() connector.Recorder[messenger.Event] {
	return bridge.Recorder[messenger.Event]{Store: n.messenger, Bridge: n.bridge, Network: connector.NetworkMessenger}
}

// closeNetworks stops the connector runtime, before the gateway closes;
// closeConnections closes the inboxes.
func (p *platform) closeNetworks() {
	if p.networks != nil && p.networks.bridge != nil {
		p.networks.bridge.Close()
	}
}
