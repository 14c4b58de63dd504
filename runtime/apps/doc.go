// Package apps is the mini-app router. It joins the registry (which app
// versions exist and which one serves whom) and the sandbox engine (which
// runs them).
//
// # Loading
//
// New loads every live and candidate version of every app; the engine's
// disk compilation cache means a restart does not recompile. Upload checks,
// compiles and stores a new version; Promote loads the version before the
// registry starts routing to it, so a rollout never points at a module that
// cannot run; Promote and Rollback close the versions that stop serving.
//
// # Delivering events
//
// Deliver picks the version for the person and conversation (see the
// registry's conversation-consistency rule), builds the guest event (the
// person appears only as the app's pseudonymous OpenID), dispatches it with
// the configured host.Outbox, and records the figures. DeliverFor is the
// entry point of the events the host services cause (payment outcomes,
// consent answers, timers), which reach it through runtime/hostevents; it
// runs on the caller's goroutine.
//
// # Events and their effects
//
// With Config.Commit every event is one transaction. The router gives the
// sandbox a new host.Tx for each run of the event; the host services stage
// the event's effects in it (storage writes in an overlay the event reads
// back, messages and prompts through host.Call.Emit, timers, payment
// orders, consent ledger records) and the guest's log lines wait in it.
// Once the guest returned 0, one store transaction (through the
// bolt.Committer, so that events group their commits) applies every
// effect and the event's consumption (host.AppEvent.Consume: the durable
// record that makes the event be delivered again after a crash); then the
// effects' Committed hooks run in order (a message published, a timer loop
// woken, log lines written). A crash before the commit leaves nothing and
// the event comes again; after it, the event is gone. A failed run (trap,
// deadline, limit, non-zero return, a failed commit) keeps no effect.
//
// The events the platform answers itself commit the same way, through
// the same commit, so that what it writes for an event and the event's
// consumption happen together or not at all (screen): a keyword's ledger
// record (consent.Service.InboundTx), its confirmation to the person and
// the standing events it causes (queued once committed); a person's event
// held in a conversation handed to staff, with the check that the handoff
// is still open (handoff.Service.HoldsTx; one handed back meanwhile is a
// conflict, and the event is decided again); a failed event's notice to
// the person, its line in the app's log (once committed) and its
// recording. A person's event (Submit, Deliver) is consumed in that
// commit whatever the outcome, an event of an app without a live version
// included; one the router stopped because its context ended
// (ErrStopped: Close) is left as it is, to come again at the next start.
// An event a host service caused (DeliverFor) that failed is not
// consumed: its service decides from Done whether to deliver it again (a
// timer is tried again; a payment outcome or consent answer is not). The
// gateway, told that the router consumes (ConsumesEvents), deletes
// nothing after it.
//
// Concurrency control is optimistic: events of one app run at once, and
// the commit checks what each read (storage keys, present or absent, and
// listed ranges, once the event writes storage; a timer it cancels; the idempotency key of an order it
// creates; the consent ledger a business-initiated message relies on). A
// change by another event meanwhile fails the commit with
// host.ErrTxConflict: the run is dropped, counted (registry Stats.Reruns)
// and the event runs again. After OptimisticRuns runs it runs with the
// app's other events held back (the app's lock, one of 64 that apps share
// by a hash of their id: held shared by ordinary runs, alone by such a
// run), so that a hot key cannot starve it;
// after SerialRuns more it fails with kind "conflict". The cost is the
// second look at what the event read, inside the commit, and the re-runs
// when two events of an app change one key at once (two instances
// incrementing one counter re-run about seven events in ten). An event
// that stores nothing (no write, no consumption: an echo) commits no
// store transaction at all; its Committed hooks just run. Per-key
// ordering would spare the re-runs but make every event wait for the
// slowest event touching any key it might touch, which the router cannot
// know before the guest runs.
//
// RunTx runs one event the same way for tools that have no Router
// (passerelle dev, runtime/apptest).
//
// # Consent
//
// With Config.Consent, a person's message, open or action passes through
// the consent rules first (Screen): it opens the service window, and a
// keyword (STOP, START, HELP...) is answered by the platform and never
// reaches the app. A keyword that changed the business's standing tells
// every live app of the business with an optout or optin event
// (Config.Standing, queued like the services' events). Revoked does the
// same for a revocation in the person's consent screen: optout for the
// whole business, a consent event naming the purpose (granted false) for
// one purpose. passerelle dev and runtime/apptest call Screen too, so the
// rules are the same everywhere.
//
// Submit is the gateway's entry point: it queues the event on workers the
// router owns (runtime/sched) and returns at once. An app runs at most its
// pool size of events at once and has a bounded queue; past it the event
// is refused (sched.ErrQueueFull, kind "queue_full" in the figures and the
// log). An app whose event ran into its deadline runs one event at a time,
// in a slot shared with the other such apps, and the slot rests as long as
// the event spun, until an event ends in time. The events of one
// conversation run in order.
//
// # Failures
//
// A failed event is counted in the version's figures and written to the
// app's log with the event id and type and the failure kind (deadline,
// fuel, call_depth, memory, host_calls, call_bytes, event_bytes, log_bytes,
// trap, abi, guest, internal). When the platform stopped the app (every kind
// but "guest"), the person also gets a short "this app had a problem"
// message in the conversation; when the guest itself returned a non-zero status it is
// trusted to have told the person what it needed to.
package apps
