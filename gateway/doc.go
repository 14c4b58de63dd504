// Package gateway is the chat gateway: the WebSocket endpoint people's
// clients connect to, conversations (1:1, groups, person and mini-app) with
// durable, ordered, replayable delivery, rendering for each messaging
// surface, host-drawn prompts, the embedded web client, health and metrics.
// PROTOCOL.md is the client contract.
//
// # Wiring
//
// New takes a Config: the conversation log (Log, which convlog.Log
// implements on bbolt), the prompt store (PromptStore, promptstore.Store) and
// an Authenticator are required; Directory, Apps and Payments are the small
// interfaces the gateway needs from identity, the mini-app router and
// payments, and may be nil (their features then answer "unavailable").
// Prompts are the kinds of prompt the host services draw: the gateway
// stores, shows and forwards prompts and answers without knowing what they
// mean. Marks, the read-marker store (MarkStore, readmarks.Store), and
// DemoSignIn, which only the demo sets (signin.go), may be nil too. The Server
// implements host.Outbox: host APIs emit app messages and prompts through
// Emit, during an app's event or later; and host.Queuer, so that during an
// event an app's message is queued for the log's group commit while the app's
// instance serves the next event; and host.TxOutbox (Stage, stage.go), so
// that an app's message or prompt is stored in its event's transaction,
// with the event's other effects, and delivered once that committed.
// Events, the store of persons' events for apps (EventStore,
// eventstore.Store), keeps each event from its acceptance until its app
// consumed it, and Resume hands on what a crash left (pending.go).
// States, the store of what became of apps' messages (StateStore,
// msgstate.Store), records the states the connector runtime
// (MessageStateTx) and the clients' marks give them, and with Events tells
// the apps that ask as status events (states.go). App
// events are handed to Apps.Submit
// without waiting: the runtime runs them on workers it shares fairly among
// apps, and refuses an event (app_busy) when its app has too many waiting.
// Handler serves /ws, /healthz,
// /metrics, /v1/ (Config.API) and the web client at /. Registerer exposes
// the server's own Prometheus registry to other packages.
//
// # Delivery
//
// A message is persisted (in the Log; convlog group-commits it) before it
// is acknowledged or delivered. Each conversation has a gap-free sequence; live deliveries
// of a conversation are fanned out in seq order. A reconnecting client names
// its last seq per conversation and receives what it missed, then live
// traffic, each seq at most once per connection. A resent message with the
// same client id is recognised by the log (by person and client id, for the
// log's dedupe window, 24 hours by default, across restarts) and not stored
// twice.
//
// # Connections
//
// Each connection has one reader goroutine (which also serves requests) and
// one writer goroutine that owns every write: a bounded send queue, write
// deadlines, pings, a read size limit and a token-bucket rate limit. The
// writer takes every frame already queued (up to 64 frames or 64 KiB) and
// hands them to the socket in one write (batch.go: the upgraded socket is
// wrapped so that gorilla/websocket's frames are gathered while the writer
// holds it). A
// connection whose queue is full is closed as a slow consumer instead of
// growing memory; an app's message is never the reason: past half the
// queue it is skipped and the client told to fetch it (a gap frame), so an
// app flooding a conversation cannot disconnect its members. Error codes map to close codes and HTTP statuses in one
// table (errors.go).
//
// # Web client
//
// The web client (web/, embedded, no build step) is served at /. It takes
// the token from the URL (/#token=... or ?token=...) and optionally the
// surface profile (&surface=whatsapp), keeps the last seq per conversation,
// resumes after a reconnect and shows each (conversation, seq) once. Stable
// hooks for browser tests: #status[data-state=online], #new-chat,
// [data-testid=people-item][data-id=PERSON], #show-apps,
// [data-testid=apps-item][data-id=APP], #conversations li[data-conv=ID],
// #composer-input, #composer-send, .msg[data-conv][data-seq][data-render],
// .choices button[data-choice=ID], [data-testid=payment-sheet],
// [data-testid=payment-amount], [data-testid=payment-confirm],
// [data-testid=payment-decline], [data-testid=consent-sheet],
// [data-testid=consent-grant], [data-testid=consent-refuse],
// [data-testid=share-sheet], [data-testid=share-conv] (a select),
// [data-testid=share-confirm], [data-testid=share-cancel],
// [data-testid=wallet], #surface-select.
//
// # Storage
//
// The gateway itself opens no bucket: conversations and messages are the
// Log's (see package convlog for their layout and commits), prompts the
// PromptStore's (package promptstore), read markers the MarkStore's
// (package readmarks), persons' events for apps the EventStore's (package
// eventstore), apps' messages' states the StateStore's (package msgstate).
// It names bbolt's transaction only where a message, a prompt
// or an event joins a transaction of the node's store.
package gateway
