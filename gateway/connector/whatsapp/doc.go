// Package whatsapp is the foundation of the WhatsApp Cloud API connector:
// the webhook Meta calls, the parser of its notifications, the durable
// record of what they reported, and the Send API client. The gateway
// wires it: gateway/connector/webhooks serves each connection's webhook,
// gateway/connector/bridge reads the inbox and sends through Client.
//
// # Inbound
//
// NewWebhook returns the http.Handler of one connection (its app secret
// and verify token). A GET with hub.mode=subscribe and the connection's
// hub.verify_token gets hub.challenge back; anything else is 403. A POST
// must carry X-Hub-Signature-256, "sha256=" and the hex HMAC-SHA256 of the
// raw body under the app secret: the digest is compared in constant time
// over the bytes received, so a body re-encoded on the way or signed by
// another app is refused (401 without the header, 403 with a wrong one).
// Bodies are bounded (DefaultMaxBody; 413 above). The handler answers 200
// only after its Recorder has recorded every event: a failure answers 503
// and Meta delivers again.
//
// Parse turns a notification into Events. Text, interactive button_reply
// and list_reply messages and statuses (sent, delivered, read, failed with
// their errors) are typed; everything else (images, reactions, locations,
// orders, stickers, unknown types, other webhook fields, an empty entry
// list, the errors arrays of a change) is a KindUnsupported event whose
// Raw names what it was, so that nothing is dropped silently and a person
// can be answered politely. Each event has a Key that a redelivery repeats:
// the wamid of a person's message, the wamid and status of a status, and
// for what carries no id a hash of the body and the event's place in it.
// Statuses may arrive out of order and "read" may come without
// "delivered" (Meta implies it); Event keeps them as they came, the
// consumer orders them.
//
// # The store
//
// Store is the Recorder on bbolt (buckets whatsapp.seen, whatsapp.expiry
// and whatsapp.inbox, written through a bolt.Committer). A key is kept for
// StoreConfig.Retention (7 days by default, as long as Meta retries an
// unanswered notification) across restarts; each Record forgets a few
// expired keys, oldest first, through a bucket ordered by time, and
// Expire forgets them all. New events go to an inbox in the order they
// were recorded: the gateway reads it with Inbox and removes what it has
// handled with Done.
//
// # Outbound
//
// Client posts to {base}/{version}/{phone-number-id}/messages with the
// access token as a bearer token. Text, Buttons, List and Template are
// checked against the documented limits before anything is sent (a
// *LimitError names the field and the limit): text bodies of 4096
// characters; reply buttons 1 to 3, titles of 20, ids of 256; lists of at
// most 10 sections and 10 rows in all, row titles of 24, descriptions of
// 72, a button of 20; interactive bodies of 1024, headers and footers of
// 60. Meta's refusals become an *Error with a Class from Meta's code:
// throttling (130429 throughput, 131056 pair rate, 4, 80007) and passing
// failures (1, 2, 131000, 131016, 133004) are retried with a doubling
// backoff up to ClientConfig.MaxAttempts, since Meta took nothing; 131047
// (window closed), 131026 (undeliverable), 131050 (the person stopped
// marketing messages), 190 and 0 (the token), policy, template and
// request errors are final. A request without an answer (timeout, lost
// connection) is ClassUnknown and is not retried here, since the message
// may have gone.
//
// Package metasim (gateway/connector/metasim) plays Meta's side for tests and demos: it validates
// requests as Meta documents them (independently of this package), answers
// in Meta's shapes, injects any error code, applies the pair rate limit,
// and signs and delivers webhooks.
//
// # Not wired yet
//
//   - A template goes in the first language the merchant registered under
//     its name: a webhook carries no locale, and the platform keeps none
//     for a person yet.
//
// # Sources
//
// Meta's WhatsApp Business Platform documentation, on which the shapes,
// limits and codes here are based:
//
//   - Webhook endpoint (verification requests, X-Hub-Signature-256):
//     https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/create-webhook-endpoint
//   - Webhooks overview (the notification shape and fields, payloads of
//     up to 3 MB, undelivered notifications retried for up to 7 days):
//     https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/overview
//   - Graph API webhooks, verification requests and payload validation:
//     https://developers.facebook.com/docs/graph-api/webhooks/getting-started
//   - messages webhook reference (incoming messages):
//     https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/messages
//   - status webhook reference (sent, delivered, read, failed; read
//     implies delivered): https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/messages/status
//   - Interactive list messages (10 sections, 10 rows in all):
//     https://developers.facebook.com/documentation/business-messaging/whatsapp/messages/interactive-list-messages
//   - Interactive messages (reply buttons, lists):
//     https://developers.facebook.com/docs/whatsapp/guides/interactive-messages/
//   - Error codes (the response shape, webhook errors arrays, each code):
//     https://developers.facebook.com/documentation/business-messaging/whatsapp/support/error-codes/
package whatsapp
