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
