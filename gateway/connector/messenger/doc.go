// Package messenger is the foundation of the connector to the Messenger
// Platform, which carries both Facebook Messenger (a Page; people are
// page-scoped ids, PSIDs) and Instagram messaging (a professional account;
// people are Instagram-scoped ids, IGSIDs). The two share the webhook and
// Send API shapes; Network says which one a connection serves, and the
// few differences (Instagram's text limit, its tags, read by mid) are
// handled here. The gateway wires it: gateway/connector/webhooks serves
// each connection's webhook, gateway/connector/bridge reads the inbox and
// sends through Client (the human-agent tag for the merchant inbox's
// answers included).
//
// # Inbound
//
// NewWebhook returns the http.Handler of one connection, built on
// connector.Webhook: GET verification with hub.verify_token,
// X-Hub-Signature-256 checked in constant time over the raw body, bodies
// bounded, 200 only after every event is recorded (503 otherwise, and Meta
// delivers again).
//
// Parse turns a notification (object "page" or "instagram",
// entry[].messaging[]) into Events: text, quick replies (the title as
// Text, quick_reply.payload as Payload), postbacks (title, payload, mid),
// opt-ins (notification messages: the token, frequency, expiry, and the
// STOP/RESUME status), reads (watermark on Messenger, mid on Instagram),
// deliveries (mids, watermark), reactions and echoes (the business's own
// messages, from any app or the Page inbox, which the merchant inbox
// needs to show what an agent typed in Meta's tools). Everything else is
// KindUnsupported with its name in Raw: attachments ("attachment:image"),
// deleted messages, referrals, handover events, standby (the conversation
// belongs to another app), changes fields such as Instagram comments, an
// entry without messaging, an empty entry list; never dropped, never a
// panic (FuzzParse). Keys repeat across redeliveries: "mid:" the message
// id, "postback:" its mid, "read:"/"delivery:" the person and the
// watermark, "reaction:" the mid, the person, the action and the time,
// "optin:" the person, the time, the type and the status; a hash of the
// body and the event's place for what carries no id.
//
// Store is connector.Store on bbolt (buckets messenger.seen,
// messenger.expiry, messenger.inbox): each key remembered for 7 days by
// default, across restarts, and new events in an inbox in the order
// recorded. It can share a database file with the WhatsApp store.
//
// # Outbound
//
// Client posts to {base}/{version}/me/messages with the Page token as a
// bearer token (not in the URL, where proxies log it). Message carries
// the messaging_type (RESPONSE by default, UPDATE, MESSAGE_TAG with a
// Tag), text or a generic template (Cards), and quick replies; it is
// checked before anything is sent (a *LimitError names the field): text
// of 2000 characters on Messenger and 1000 bytes on Instagram; 1 to 13
// quick replies, titles of 20, payloads of 1000; 1 to 10 elements, titles
// and subtitles of 80, at most 3 buttons each, button titles of 20, each a
// postback (payload) or a URL; a tag only with MESSAGE_TAG, and only
// HUMAN_AGENT on Instagram. Notification messages (the marketing
// messages opt-in): Message.OptinRequest is the opt-in request
// (template_type notification_messages; a title of at most 65
// characters, a payload that comes back in the opt-in webhook, an
// optional frequency and button words), sent to the PSID within the
// window; Message.Token addresses a message by the person's
// notification_messages_token instead of the PSID, without a
// messaging_type, for a message of the topic they opted in to outside
// the window. The bridge draws consent.request_optin as the opt-in
// request, with the host's token as its payload, and records the
// opt-ins (see gateway/connector/bridge). Meta's refusals become an *Error with a
// connector.Class from the code and subcode (subcodes first: Meta reuses
// codes 10, 100 and 200): 613, 4, 32 and 80006 (rate limits) and 1, 2,
// 1200 (passing failures) are retried with a doubling backoff up to
// ClientConfig.MaxAttempts; 10 with 2018278 or 2018065 (outside the
// allowed window) is ClassWindowClosed; 551 (the person blocks the
// business, or with 1545041 is not available), 200 with 1545041, 10 with
// 2018108 (they can't receive your messages), 100 with 2018001 or 2534014
// (no matching user) are ClassUndeliverable, which the bridge records in
// the consent ledger; 10 with 1893015 (the person stopped this topic's
// notification messages) is ClassConsent;
// 190, 102 and the 200s are ClassAuth; 368 ClassPolicy; 100 otherwise
// ClassInvalid. A request without an answer is ClassUnknown and is not
// retried, since the message may have gone.
//
// metasim.MessengerServer plays the Send API for tests and demos,
// checking requests from Meta's documentation independently of this
// package, injecting any code and subcode, and applying the 24-hour and
// HUMAN_AGENT windows when asked.
//
// # Echoes
//
// An echo (is_echo) is a copy of a message the business sent the person,
// whichever tool sent it. The connector runtime (gateway/connector/bridge)
// knows its own sends by the message ids the Send API answered, not by
// app_id (a connection does not record the Meta app id): an echo whose mid
// it sent is passed over; one that comes while a message to the same
// person is still in its outbox is handled again a moment later, once the
// send's answer is recorded (a few times over about two seconds; one still
// undecided then is passed over and logged); any other was written elsewhere (Meta's own
// inbox, another app of the Page). That one is stored in the person's
// conversation as from the Page's inbox ("Messenger inbox"), once however
// often Meta delivers it, and never sent back. When no handoff holds the
// conversation, the server opens one ("answered from Messenger inbox",
// taken by that inbox): the app gets a handoff event and stops answering
// over a person of the business, the person's next messages wait in the
// merchant inbox with the whole conversation, and a member of staff hands
// it back. metasim.Sim.PageReply plays such an answer.
//
// # Not wired yet
//
//   - A member of staff's answer carries their name as a text prefix
//     ("Alice: ..."), not as a Messenger persona.
//   - On Instagram, opt-ins the account gathered are recorded, but the
//     opt-in request is drawn, and sends by token go, on Messenger only.
//
// # Sources
//
// Meta's Messenger Platform and Instagram documentation, on which the
// shapes, limits and codes here are based:
//
//   - Webhook events (messages, postbacks, optins, reads, deliveries,
//     reactions, echoes, standby): https://developers.facebook.com/docs/messenger-platform/reference/webhook-events
//     and https://developers.facebook.com/documentation/business-messaging/messenger-platform/webhooks/webhook-events
//   - messaging_optins (notification messages token, frequency, expiry,
//     status): https://developers.facebook.com/docs/messenger-platform/reference/webhook-events/messaging_optins/
//   - Marketing messages (notification messages: the opt-in request, the
//     send by token, tokens lasting 6, 9 or 12 months by frequency; Meta
//     announced this Send API form's retirement in favour of its
//     Marketing Message API): https://developers.facebook.com/docs/messenger-platform/marketing-messages
//   - Instagram messaging webhooks and examples (object "instagram"):
//     https://developers.facebook.com/docs/instagram-messaging/webhooks and
//     https://developers.facebook.com/docs/instagram-platform/webhooks/examples/
//   - Send API reference (messaging_type, tag, the response shape):
//     https://developers.facebook.com/docs/messenger-platform/reference/send-api
//   - Sending messages (the 24-hour window, message tags, HUMAN_AGENT):
//     https://developers.facebook.com/docs/messenger-platform/send-messages
//   - Quick replies (up to 13; Instagram: 13 of 20 characters):
//     https://developers.facebook.com/docs/messenger-platform/reference/buttons/quick-replies
//     and https://developers.facebook.com/docs/messenger-platform/instagram/features/quick-replies
//   - Generic template (10 elements, titles and subtitles of 80, 3
//     buttons): https://developers.facebook.com/documentation/business-messaging/messenger-platform/send-messages/template/generic
//   - Instagram send message: https://developers.facebook.com/documentation/business-messaging/instagram-messaging/features/send-message
//   - Error codes (the error shape with error_subcode, each code):
//     https://developers.facebook.com/documentation/business-messaging/messenger-platform/error-codes
//   - Webhook verification and payload signatures (shared with WhatsApp):
//     https://developers.facebook.com/docs/graph-api/webhooks/getting-started
package messenger
