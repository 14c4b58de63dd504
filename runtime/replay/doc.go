// Package replay records the events app versions handle and replays them
// against a version, the same or another, deterministically.
//
// A Record is one event as its version saw it: the payload, the event's
// clock and random seed (runtime/sandbox fixes both per event), every host
// call with its request and the response or status the guest got, the
// status the guest returned and how many effects it staged. The Store
// keeps records per merchant and app in bbolt buckets of its own, for the
// retention the operator sets (0 records nothing), with an index by
// person: Forget removes a person's events, RedactProfile blanks the
// identity.profile answers of an app once the person withdraws the grant.
//
// Run replays records against a loaded version: its host calls are
// answered from the record (matched in order by operation and request),
// its clock and randomness are the recorded ones, nothing it does is
// committed, and each event is reported the same, diverged (with the first
// call that differs, recorded and replayed side by side) or trapped.
package replay
