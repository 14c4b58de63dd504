// Package metasim plays Meta's business messaging side for tests, demos
// and merchants who have no Meta account yet: the WhatsApp Cloud API and
// the Messenger Platform's Send API (for a Page or an Instagram account),
// the people who write to those accounts, and the signed webhooks Meta
// posts.
//
// It does not import the connectors: it checks what Meta documents, from
// Meta's documentation, not what a connector happens to send.
//
// # The Send APIs
//
// Server is one WhatsApp business number: POST
// /{version}/{phone-number-id}/messages with Meta's request checks (token,
// phone number id, body shape, the limits of text, reply buttons, lists
// and templates) and answers (a wamid, or {"error": {message, type, code,
// error_data, fbtrace_id}} with Meta's HTTP status). Configured as
// NewSim does, it also refuses what Meta refuses for the number's state:
// 130429 past Config.Throughput messages a second (80 by default),
// 131056 to one person sooner than PairInterval after the last, 131047
// for anything but a template more than 24 hours after the person's last
// message (Inbound) as Cloud API reports it: the send is accepted with a
// wamid and its status is failed with the code (Sent.Fail; Sim posts the
// status webhook; FailNext(131047) gives the form in the send's answer),
// 132001 for a template that was not registered and
// 132000 for one whose body parameters do not fit. Templates are
// registered with RegisterTemplate or POST
// /{version}/{waba-id}/message_templates (Meta's creation request: name,
// language, category, BODY component with its samples), checked as Meta
// checks them: name, category, numbered parameters in sequence or named
// ones, not both, not at the start or end of the body, one sample each.
// The same endpoint takes Meta's mark-as-read request ("status": "read",
// "message_id", optionally a typing indicator) and answers
// {"success": true}.
//
// MessengerServer is one Page or Instagram account: POST
// /{version}/me/messages (or /{version}/{id}/messages) with Messenger's
// limits (text, quick replies, generic templates, messaging types and
// tags, Instagram's text in bytes) and, when asked, the 24-hour and
// 7-day (HUMAN_AGENT) windows (code 10, subcode 2018278), and sender
// actions (mark_seen, typing_on, typing_off). It plays Messenger's
// notification messages: the opt-in request (template_type
// notification_messages: a title of at most 65 characters, the optional
// frequency and button words checked), OptIn minting a person's
// notification_messages_token (valid 6, 9 or 12 months by frequency),
// Notifications stopping and resuming it, and sends addressed by a token
// (recipient.notification_messages_token, no messaging_type, no window):
// an unknown or expired token is refused with 100 ("is invalid", "has
// expired"), a stopped one with 10/1893015. MessengerEntry reports an
// opt-in (MsgrEvent.Optin) as the messaging_optins webhook does.
//
// Both take injected refusals with FailNext; WhatsAppCodes and
// MessengerCodes list the codes they answer with Meta's own message and
// HTTP status.
//
// # The simulator
//
// Sim puts the Send APIs of several accounts behind one http.Handler and
// adds what Meta does around them:
//
//   - People (User: a wa_id, PSID or IGSID with a profile name) and each
//     one's conversation with the business (Thread): what the person sent,
//     and what the business sent as the network renders it (text, reply
//     buttons, a list, quick replies, a generic template, a template with
//     its parameters filled in).
//   - A person's message (Say), photo (SendPhoto: a type the connectors
//     report as unsupported) or tap (Tap: a button_reply, list_reply,
//     quick reply or postback; on an opt-in request, the opt-in, then
//     "stop" and "resume" of its notifications, each a messaging_optins
//     event, none opening the window) becomes the webhook notification
//     Meta documents (a WhatsApp messages change with contacts and messages; a
//     Messenger or Instagram entry[].messaging[] event), signed with
//     X-Hub-Signature-256 under the app secret and posted to the account's
//     webhook URL. Deliver posts a notification built elsewhere; Verify
//     makes the GET with hub.challenge Meta makes when a webhook URL is
//     configured.
//   - Delivery as Meta does it (DeliveryConfig): a webhook that does not
//     answer 200 gets the same bytes again with a doubling backoff for
//     RetryFor (Meta: up to 7 days; the simulator compresses the
//     schedule); Duplicates posts a share of notifications twice; Batch
//     gathers entries falling due together into one notification.
//     Attempts lists what was posted and answered; Flush waits until the
//     queue is empty.
//   - After each accepted send (StatusConfig): WhatsApp statuses sent,
//     delivered and read, Messenger delivery and read events, Instagram
//     read events, with configurable delays, in reverse order
//     (OutOfOrder) or without delivered; FailDelivery makes the next sends
//     to a person end in a failed status with a code instead.
//   - Phone-like pages: GET / lists the people (and adds one) and the
//     last webhook posts with their answers; GET
//     /phone/{network}/{user} is a person's chat in the network's colours,
//     live over server-sent events (/events), with a labelled text box and
//     the business's buttons, list rows and quick replies as keyboard
//     reachable buttons that post the right reply. POST .../say and
//     .../tap answer a script (Accept: application/json) with the id of
//     the person's message.
//
// `passerelle metasim` runs a Sim from flags; see the README.
package metasim
