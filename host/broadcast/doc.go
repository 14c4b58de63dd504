// Package broadcast sends a merchant's message to everyone opted in to a
// purpose (or holding a one-time subscription to a template), under the
// consent rules, durably: a broadcast survives restarts, reports its
// progress and one outcome per person, and reaches nobody twice.
//
// # A broadcast
//
// Create takes the merchant, an id the merchant chooses, the app that
// speaks, the purpose or template and the message. The same id with the
// same content returns the broadcast already made; with other content it
// is refused (ErrConflict): an id names one message. The audience is
// snapshotted when the broadcast is made (consent.Service.Recipients):
// people who opt in later are not in it; people who opt out later are
// skipped when their turn comes.
//
// # Each person
//
// Every person goes through consent.Service.Check at send time, the check
// chat.notify uses, with the message marked Initiated (a broadcast is
// business-initiated even when the person wrote recently, so it always
// relies on the purpose or template and leaves its send record in the
// ledger). A STOP that arrives while the broadcast runs skips everyone
// after it with opted_out. The outcome is sent (with the message id, the
// send's ledger record and the grant or subscription it relied on) or
// skipped with a reason: opted_out, not_opted_in, window_closed,
// rate_limited (the person's daily limit) or undeliverable (the
// conversation refused the message). The per-second limit of the business
// is not a reason: the broadcast waits for the next second and goes on.
//
// # No one twice
//
// A person's message id is made from the merchant, the broadcast and the
// person (MessageID), so a check made again after a restart gets its first
// decision back without a second count or consumption (consent.Message.ID).
// The send's ledger record, written by the check before the message is
// handed to the Sender, is the intent; the outcome is recorded after. A
// person whose turn finds such a record for their message id (the process
// stopped between the check and the outcome) is resolved by asking the
// Sender whether the message is already stored in the record's
// conversation (Sender.Sent): if it is, the outcome is sent; if not, the
// check is made again (the person may have sent STOP or withdrawn the
// opt-in meanwhile) and the message sent. Unfinished broadcasts resume
// when the engine starts (Start). A person costs three durable commits:
// the check's, the message's and the outcome's.
//
// # Storage
//
// Buckets broadcast.list (merchant NUL id → the broadcast with its
// progress, JSON), broadcast.people (merchant NUL id NUL 4-byte index →
// one person's entry, JSON) and broadcast.running (merchant NUL id → "",
// the broadcasts to resume). A person's outcome and the broadcast's
// counters change in one transaction.
package broadcast
