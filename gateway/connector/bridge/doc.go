// Package bridge is the connector runtime: it makes WhatsApp, Messenger
// and Instagram real surfaces of the gateway. One merchant app answers the
// people who write to the merchant's WhatsApp number, Facebook Page and
// Instagram account, with the same code it runs for the web client. Meta
// carries business↔person messages only; a network conversation has one
// person and one app.
//
// # Inbound
//
// The webhooks (package connector and the network packages) record each
// event once, durably, in their network's inbox before Meta gets its 200;
// Recorder wraps a store so that the bridge hears of it at once. The
// bridge reads each inbox in order: the events of one person in order,
// those of different people at once, a batch marked done together. For a
// person's message it finds the connection by the account written to
// (connector.Connections.ByAccount), the person by their network account
// (identity.EnsurePerson with Account{Surface: network, External: wa_id,
// PSID or IGSID}, the profile name as display name), and their
// conversation with the connection's app (gateway.NetworkConvID: kind app,
// one per person and connection; the person's web clients list it too).
// The message is stored there like a web client's message
// (gateway.Server.PostFromNetwork, with the network's message id as its
// client id, so a redelivery is stored once) and handed to the app through
// the router like a client's (DispatchFromNetwork), so the consent rules
// see it: the service window opens, STOP and its synonyms are the
// platform's. Text is a message event; a reply button, list row, quick
// reply or postback is the action event of the app's choice it carries;
// "2" in answer to a numbered menu is that menu's second choice
// (surface.Rendered.Pick). A photo, a location, a sticker is kept in the
// conversation as "[image]" and answered with UnsupportedText; it never
// reaches the app and is never dropped. "LINK 123456" redeems a link code
// (below).
//
// Statuses (sent, delivered, read, failed; in any order, read implying
// delivered) move the message's state in the outbox forward only, and the
// person's marker in the conversation (gateway.Server.MarkFromNetwork):
// the web client shows them as it shows a web reader's. A failed status
// is handled like a refusal at send time. Each move of an app's message
// (sent at the Send API's answer, delivered, read, failed at send or in a
// status) is recorded through Config.States in the transaction that
// moves its outbox item: the merchant's figures and the message's history
// (gateway/msgstate), and the app's status event when its manifest asks
// for them, commit with the move or not at all. A Messenger watermark
// names no message: the app messages sent before it move one by one
// (watermarkStates).
//
// # Outbound
//
// The gateway hands the bridge every stored message (gateway.Networks);
// an app's message in a network conversation goes into the durable outbox
// of its connection (bbolt, keyed by the message's id, its idempotency
// key). Each conversation keeps the highest seq handed over, so a message
// the process stored but did not hand over before a crash is found in the
// log on the next start. One sender per connection renders each message
// with gateway/surface for its network (Render: WhatsApp reply buttons and
// lists, Messenger and Instagram quick replies and generic templates,
// numbered menus where a card does not fit) and sends it with the
// network's Send API client: at most Config.Rate messages a second per
// connection (80 by default), on WhatsApp at most one every
// Config.PairInterval (6 s) to the same person after a burst of
// Config.PairBurst (45), in order per person.
//
// What a refusal means depends on its class (connector.Class):
//
//   - throttled, transient: sent again after a doubling backoff, up to
//     Config.MaxAttempts sends;
//   - unknown (no answer: the message may have gone): not sent again while
//     a status may name it. A status for an id the outbox never learnt
//     settles the person's oldest such send; after Config.UnknownWait
//     without one it is sent again. A send the process was making when it
//     stopped is unknown on the next start. A message is never sent twice
//     unless the network lost both its answer and its statuses;
//   - window closed (WhatsApp 131047, Messenger 10/2018278): for a
//     business-initiated WhatsApp message (chat.notify or a broadcast: it
//     carries the purpose or template it rests on, host.Basis) the same
//     message goes again once, as the template the merchant registered
//     under that name (Config.Templates), unless the person stopped the
//     business since; otherwise a coded refusal in the app's log
//     ("window_closed", with Meta's code and why no template could go).
//     Cloud API mostly accepts free-form text outside the window and
//     reports 131047 in a failed status webhook: that status puts the
//     outbox item back in its place in the queue, marked to go as the
//     template, in the transaction that records it, so a restart loses
//     nothing; the item forgets the refused send's id, so a redelivered
//     status of it moves nothing, and its key stays its idempotency key;
//   - consent (WhatsApp 131050: the person stopped the business's
//     messages on WhatsApp): the person is opted out of the merchant in the
//     consent ledger (consent.Revoke, via the network), everywhere;
//   - undeliverable (WhatsApp 131026; Messenger and Instagram 551 with or
//     without 1545041, 200/1545041, 10/2018108, 100/2018001 and
//     100/2534014: the person is not available, blocks the business or
//     is unknown): recorded in the consent ledger
//     (consent.KindUndeliverable), so broadcasts skip the person until
//     they write again; in the app's log with the code;
//   - the others: failed, in the app's log with the code.
//
// # Windows
//
// The bridge notes when each person last wrote (bridge.seen). A
// business-initiated WhatsApp message to a person who last wrote more
// than 24 hours ago goes as its registered template at once, filled with
// the message's params; one whose template is missing or does not fit is
// refused (window_closed) without a send. A message a member of staff
// wrote in the merchant inbox (Agent) goes on Messenger and Instagram as
// usual within 24 hours of the person's last message, under the
// HUMAN_AGENT message tag within 7 days, and is refused after with the
// reason in the app's log.
//
// # Notification messages (Messenger)
//
// On Messenger a business may write outside the 24-hour window only to a
// person who opted in to a topic's notification messages, by the token
// the opt-in gave. consent.request_optin in a Messenger conversation is
// drawn as Meta's opt-in request (template_type notification_messages),
// titled "<purpose> from <business>" (65 characters at most), whose
// payload is a token only the host mints, kept in bridge.tokens with the
// prompt and the purpose. The messaging_optins webhook of the tap is
// recorded in the consent ledger as a standing opt-in of the person to
// the connection's merchant for that purpose, with the token's expiry
// (consent.OptInUntil, via "messenger notification messages", the
// request's title as the evidence); the prompt is then answered (the app
// gets its consent event) and the ledger keeps one grant for both. An
// opt-in to a request the Page sent otherwise (Meta's tools, a plugin)
// is recorded under the purpose its title names (TopicPurpose: "Lunch
// deals!" is lunch-deals). STOP NOTIFICATIONS withdraws it
// (consent.Withdraw), RESUME NOTIFICATIONS grants it again; the token,
// its purpose, expiry and state are kept in bridge.optins. A
// business-initiated message of a purpose (chat.notify) to a person who
// last wrote more than 24 hours ago goes by the token of their opt-in to
// that purpose (recipient.notification_messages_token); an expired token
// is refused before any send (optin_expired in the app's log), and
// Meta's 10/1893015 (the person stopped the topic) withdraws the opt-in
// (not_opted_in). The consent rules refuse chat.notify itself once the
// opt-in expired or was withdrawn (not_opted_in). An Instagram opt-in
// webhook is recorded the same way, but the request and the sends by
// token are drawn on Messenger only: on Instagram such a message goes by
// the IGSID and Meta refuses it outside the window (window_closed).
//
// A person who stopped the business (STOP, consent.OptedOut) gets none
// of the bridge's own messages: no answer to an unsupported message type,
// no form question, no LINK answer. The answers to their keywords are the
// consent rules' and still go.
//
// # Host-drawn prompts
//
// A prompt the host draws (a payment to confirm, a consent to give) for a
// person in a network conversation is sent as an interactive message whose
// reply ids are tokens only the host mints (HostPrefix and 96 random bits,
// kept in bridge.tokens with the prompt and the answer they stand for). A
// tap on one goes to the prompt's kind through the gateway's answer path
// (AnswerFromNetwork), never to the app: a payment confirmed on WhatsApp
// moves the ledger exactly as one confirmed on the web. An app's choice
// whose id starts with HostPrefix is refused by Render (ErrReservedID),
// and the ids the bridge gives app choices start with AppPrefix: no app can
// draw a button that answers a host prompt.
//
// # Forms
//
// No network has forms. A card with a form becomes one question per field,
// asked in order; a reply that does not fit the field's type (number,
// email, phone; required) is answered with the reason and the question
// again; "-" skips an optional field. After the last field the app gets
// the action event a web client's form sends, with the values. STOP and
// the other keywords keep their meaning in the middle of a form.
//
// # Linking
//
// A person signed in on the web client asks for a one-time code (POST
// /link-code: 6 digits, valid 10 minutes) and sends "LINK 123456" from
// WhatsApp, Messenger or Instagram: the network account then belongs to
// the same platform person (identity.RedeemLinkCode), so STOP, the wallet
// and consent follow them across surfaces.
//
// # Figures
//
// Metrics (register it with the server's registry): events in by network
// and kind, duplicates dropped, sends by outcome and Meta's code, retries,
// statuses, outbox depth per connection, prompts, answers, forms and
// links.
package bridge
