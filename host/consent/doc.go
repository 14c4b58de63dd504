// Package consent decides which business may send a person a message, and
// keeps the evidence: an append-only, hash-chained ledger of what each
// person agreed to, withdrew, and what was sent on the strength of it.
//
// A business (a merchant: all its apps, on every surface) reaches a person
// only because that person asked, and the person makes it stop in one
// word. The host enforces the rules; an app can only ask. RATIONALE.md
// says why the rules and the store are the way they are.
//
// # The rules
//
// Check runs for every business message, before it is stored for
// delivery. In order:
//
//  1. Opt-out overrides everything. A person who sent STOP (or a synonym)
//     to the business on any surface, or STOPALL anywhere, or revoked the
//     business in the consent screen, and has not sent START to it since,
//     gets nothing: StatusOptedOut (opted_out). Consent given before a
//     STOP stays spent after START: the business must ask again.
//  2. Service window. A person who wrote to the business (any app, any
//     surface; Touch, or Inbound for every message they send) within
//     Config.Window (24 hours by default) may be sent anything: replies,
//     payment receipts, timers they caused. Nothing is written for these.
//  3. Outside the window, the message must name a Purpose the person
//     opted in to (a standing opt-in, OptIn) or a Template they hold a
//     one-time subscription to (Subscribe). A subscription allows exactly
//     one message: it is consumed in the transaction that writes the
//     send's record. Without either: StatusWindowClosed (window_closed)
//     for a message naming neither, StatusNotOptedIn (not_opted_in) for a
//     purpose or template the person did not grant. An opt-in a network
//     gave with an expiry (OptInUntil: Messenger's notification
//     messages token) is in force until then; Withdraw records the
//     network's stop of it (STOP NOTIFICATIONS).
//  4. Rate limits, for those business-initiated messages only (rule 3):
//     per business and person per UTC day (DefaultPerPersonDay) and per
//     business per second (DefaultPerBusinessSecond); the operator sets
//     others in Config.Limits and per business in Config.Business. The
//     counts are in the store, so a restart resets nothing:
//     StatusRateLimited (rate_limited).
//
// A business-initiated message that carries an ID and is checked again
// (a retry, a broadcast resumed after a restart) gets its first decision
// back (Decision.Again) without a second consumption or count, unless
// the person opted out in between, or, under a purpose, withdrew the
// opt-in or holds none given after their last STOP (not_opted_in).
//
// A refusal is a *host.Error, an instance of ErrOptedOut, ErrWindowClosed,
// ErrNotOptedIn or ErrRateLimited (errors.Is), whose message says what to
// do; nothing was written and nothing may reach the person. The four statuses are part of
// the ABI (sdk/ABI.md, "Consent").
//
// # Keywords
//
// ParseKeyword recognises a whole message, ignoring ASCII case and the
// spaces around it: STOP, UNSUBSCRIBE, CANCEL, END, QUIT, REVOKE and
// OPTOUT stop the conversation's business; STOPALL stops every business;
// START and UNSTOP undo a STOP (and, for this business, a STOPALL); HELP
// says who the business is and how to stop it. Inbound applies them (and
// opens the window for any message) and returns the one reply to send
// (StopText, StopAllText, StartText, HelpText); a message id seen again
// gets no second reply. Keyword messages belong to the platform: the app
// does not get them, but learns that its standing changed (Reply.Businesses).
//
// # The ledger
//
// Bucket consent.ledger maps an 8-byte big-endian record number (1, 2,
// 3, ...) to a 32-byte SHA-256 chain hash followed by the record's JSON:
//
//	hash(n) = SHA-256(hash(n-1) ‖ JSON(n)),  hash(0) = 32 zero bytes
//
// A Record names its kind (grant, withdrawal, subscription, consumption,
// send, opt_out, opt_in), the person (platform id), the business, the app,
// the purpose or template, the surface and conversation, what the person
// saw (the prompt's text, or the keyword they typed) and its SHA-256, the
// message or answer that carried it, what it relies on (a send or a
// consumption: the grant or subscription record), how (prompt, keyword,
// consent screen) and when. consent.meta holds the head: the last record's
// number and hash. Verify recomputes the chain in one read transaction and
// names the first record that is missing, unreadable, renumbered or edited,
// and a head that does not match; `passerelle consent verify` runs it on a
// data directory. Publishing Head elsewhere makes even a rewrite of the
// whole chain evident.
//
// Records are written only in the transaction that changes the state they
// justify, so the ledger and the rules never disagree.
//
// # State beside the ledger
//
// What Check reads is kept apart, so that the common case decodes nothing:
// consent.gates holds, per business and person, 24 bytes (when the person
// last wrote, the last STOP's and the last START's record numbers), and
// per person the last STOPALL's record number; consent.people an index of
// the businesses each person dealt with; consent.pairs the opt-ins and unused subscriptions in
// force (record numbers) and the day's count; consent.rates the
// business's count for the current second; consent.inbound the keyword
// messages already handled; consent.sends the record of each
// business-initiated message by its ID. Writes are grouped (bolt.Committer):
// concurrent sends share one transaction and one fsync.
//
// # Views
//
// Standings is the person's consent screen: every business they dealt
// with, whether it may write, until when the window is open, each opt-in
// and unused subscription with its evidence; Revoke withdraws one purpose
// or the whole business. Audience is a merchant's export of the people it
// may message, with the evidence, under the merchant's own ids for them
// (Config.Pseudonyms: identity's UnionID), read from that merchant's keys
// only.
//
// # Hooks the integrator wires
//
//   - Inbound for every message a person sends into a business's
//     conversation, before the app sees it, and Touch for opens and
//     actions: runtime/apps does both (apps.Config.Consent), sends
//     Reply.Text back and hands the message to the app only for
//     KeywordNone, and tells every app of Reply.Businesses with an optout
//     or optin event (apps.Config.Standing).
//   - Check for every message an app sends to a person, before it is
//     stored: chat.send does (chat.Config.Consent, set by host/services
//     when services.Config.Consent is); a refusal goes to the app with its
//     ABI status.
//   - Funcs (consent.request_optin, consent.request_subscription) and
//     PromptKind: the app asks, the host draws the subscribe prompt with
//     OptInPrompt's or SubscriptionPrompt's text, and an accepted answer
//     is recorded with OptIn or Subscribe, that text as the evidence;
//     Config.Answered hands every answer on as the app's consent event.
//     chat.notify (host/chat) sends under the purpose or template.
//   - Standings, Revoke, Audience for the web client, /v1 and the CLI.
//   - Recipients (the audience with platform ids, for the host only),
//     Check with Message.Initiated and SendRecord for host/broadcast,
//     which sends a merchant's broadcasts under these rules; a broadcast
//     paces itself on ErrSecondLimit.
//   - NewMetrics, registered with the server's registry and given to
//     Config.Metrics.
package consent
