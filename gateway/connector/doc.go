// Package connector holds what the connectors to Meta's networks share:
// the webhook handler (GET verification, X-Hub-Signature-256 over the raw
// body, a bounded body, 200 only after every event is recorded), the
// durable dedupe store with its inbox on bbolt, the Graph API sender
// (bearer token, timeouts, retries of throttling and passing refusals with
// a doubling backoff, Meta's error shape read into an Error with a Class),
// and the reader of webhook times. The network packages (whatsapp,
// messenger) bring the parser of their payloads, the validation of their
// messages against their documented limits and the mapping of their codes
// to classes; package metasim plays Meta for both in tests and demos.
//
// Meta signs every webhook the same way on the WhatsApp Business Platform
// and the Messenger Platform (Messenger and Instagram): "sha256=" and the
// hex HMAC-SHA256 of the raw body under the app secret, and it retries a
// notification that was not answered with 200, so both need the same
// verification and the same durable memory of what was recorded.
package connector
