// Package timer lets mini-apps schedule an event for later: timer.after sets
// a timer that, when due, brings the app a host.EventTimer event carrying the
// payload it gave; timer.cancel removes a pending one.
//
// Timers are stored in bbolt (buckets timer.due, timer.ids, timer.count)
// and survive a restart: a timer that came due while the host was down fires
// as soon as the service is opened again. Delivery is at least once: a timer is removed
// after its Fire hook returned nil; when Fire fails it is retried with
// backoff, up to Config.MaxAttempts times, then dropped with an error log.
//
// An app (merchant + app id, all versions) has at most Config.MaxPending
// timers pending; one more is refused with host.StatusQuota. A timer
// remembers the app version, person, conversation and surface of the event
// that set it, so the fired event reaches the same place.
//
// # Hooks the integrator wires
//
//   - Config.Fire is called for each due timer; dispatch the app's `timer`
//     event (Timer.Ref, Person, Conversation; payload from Timer.Event()).
//     It runs on the service's goroutine: return an error to have the timer
//     retried.
//   - Config.Poll starts that goroutine (or call FireDue from the
//     integrator's own loop); Close stops it and the service.
//   - Funcs() goes to the runtime's sandbox.Config.Funcs.
package timer
