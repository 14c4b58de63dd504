// Package pay is the platform's payment service: wallets for people and
// merchants, a double-entry ledger in integer minor units of ISO 4217
// currencies, and the orders mini-apps request and people confirm.
//
// # Money
//
// Amounts are int64 minor units (1250 EUR = 12.50 €); there are no floats.
// Currencies are checked against a table of ISO 4217 codes with their
// minor-unit exponent (MinorUnits). Every movement of money is two postings
// summing to zero, written with both balances in one bbolt transaction;
// wallets are funded by a movement from the Issuance account, whose balance
// is the negative of the money in circulation. Audit checks all of it.
//
// # Orders
//
// An app calls pay.request; the order waits for the person in state
// awaiting_confirmation and a host-drawn prompt goes to that person only.
// The person's answer reaches Confirm or Decline. Confirm settles (person →
// merchant) in the same transaction as the state change, exactly once; with
// too little money the order is declined (reason insufficient_funds) and
// Confirm returns ErrInsufficientFunds (status insufficient_funds) with the
// balance, the price and what to do. Every error the service returns for
// what a caller did is a *host.Error (ErrNotFound, ErrState, ...). An
// order nobody answers expires after Config.TTL (Sweep, by the service's
// own sweeper with Config.SweepInterval).
// A paid order may be refunded in part or whole (pay.refund), never more than
// was paid. Requests and refunds carry idempotency keys scoped to the app: a
// retry returns the same order; the same key with other fields is a
// conflict.
//
//	created → awaiting_confirmation → paid | declined | expired
//	paid → partially_refunded → refunded
//
// # Storage
//
// Buckets: pay.orders, pay.idempotency, pay.balances, pay.postings,
// pay.account_postings (the postings by account, for Statement), pay.expiry,
// pay.outcomes. Writes are grouped: concurrent operations share
// one transaction and one fsync, with no added delay when alone.
//
// # Outcomes are not lost
//
// Every final state is written to pay.outcomes in the same transaction as
// the state change, and handed to the Notifier after commit. The integrator
// calls OutcomeDelivered once the app has the event; Sweep forgets the
// outcomes delivered since the previous Sweep. After a stop or a crash, the
// next process hands over again whatever was not yet forgotten. Delivery is
// at least once: an app may see the same (order, status, refunded) twice and
// should treat the payment event idempotently.
//
// # Hooks the integrator wires
//
//   - Config.Notifier receives every final state (paid, declined, expired,
//     partially_refunded, refunded); turn it into a host.EventPayment event
//     for the order's app (Order.Ref, Person, Conversation) with Order.Event().
//     Only the host emits these events; an app cannot fake one. It is called
//     after commit on the caller's goroutine, possibly inside a guest's host
//     call: queue, do not dispatch synchronously.
//   - PromptKind() is the payment prompt, for whoever shows prompts
//     (gateway.Config.Prompts): its answers confirm and decline call
//     Confirm(ctx, person, order) and Decline(ctx, person, order).
//     Balances(ctx, person) shows a wallet.
//   - Config.SweepInterval (or Sweep from the integrator's own ticker)
//     must be set: sweeping expires orders and redelivers outcomes after a
//     restart. Close stops the sweeper and the service.
//   - Funcs() goes to the runtime's sandbox.Config.Funcs; Fund is for operator
//     tools and the demo.
package pay
