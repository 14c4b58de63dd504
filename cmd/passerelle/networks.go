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

// startNetworks opens the networks' inboxes and starts the connector
// runtime over conns; without connections it does nothing. The webhook
// routes record into WhatsAppRecorder and MessengerRecorder.
func (p *platform) startNetworks(conns connector.Connections, log *slog.Logger) error {
	if conns == nil {
		return nil
	}
	n := &networks{}
	var err error
	if n.whatsapp, err = whatsapp.OpenStore(p.db, whatsapp.StoreConfig{}); err != nil {
		return err
	}
	if n.messenger, err = messenger.OpenStore(p.db, connector.StoreConfig{}); err != nil {
		return err
	}
	met := bridge.NewMetrics()
	if err := p.gateway.Registerer().Register(met); err != nil {
		return err
	}
	if n.bridge, err = bridge.New(bridge.Config{
		Server: p.gateway, Connections: conns, DB: p.db, Identity: p.svc.Identity, Consent: p.svc.Consent,
		WhatsApp: n.whatsapp, Messenger: n.messenger, Metrics: met, Logger: log.With("component", "connectors"),
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

// closeNetworks stops the connector runtime and closes the inboxes, before
// the gateway closes.
func (p *platform) closeNetworks() {
	if p.networks == nil {
		return
	}
	if p.networks.bridge != nil {
		p.networks.bridge.Close()
	}
	p.networks.whatsapp.Close()
	p.networks.messenger.Close()
}
