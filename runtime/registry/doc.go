// Package registry stores merchants' mini-apps: who owns each app id, every
// uploaded version (module bytes, manifest, digest), the rollout state that
// decides which version serves whom, a bounded log per app and per-version
// figures. It uses the shared bbolt database and knows nothing of wazero.
//
// # Ownership
//
// An app id belongs to the first merchant who uploads it. Another merchant
// uploading a module with the same id is refused with ErrNotOwner. Versions
// are immutable: uploading a version string twice is refused with
// ErrVersionExists.
//
// # Rollout
//
// Each app has one live version and at most one candidate version with a
// percentage (gray release). The first version uploaded becomes live; later
// uploads are stored and wait for Promote. Promote with percent 100 makes a
// version live (the previous live version is remembered for Rollback);
// Promote with 1..99 makes it the candidate for that share of people.
// Rollback with no version drops the candidate if there is one, otherwise
// goes back to the previous live version; Rollback with a version makes that
// version live at once. The modules of the last KeepVersions uploads, of the
// live and of the candidate version are kept; older modules are pruned (their
// metadata stays) so rollback inside that window needs no upload.
//
// # Who gets which version
//
// A person falls in a stable bucket 0..99: the first 8 bytes of
// SHA-256(app id, 0x00, person) as a big-endian integer, modulo 100. The
// person gets the candidate when bucket < percent, the live version
// otherwise. The same person always gets the same version while the
// percentage does not change, and raising the percentage only moves people
// from live to candidate, never back. An event with no person is bucketed by
// its conversation id.
//
// # Conversation consistency
//
// A conversation is pinned to the version that served its first event and
// stays on it while that version is live or candidate, even if the
// percentage changes or another person (in a group) writes in it: a
// conversation never sees two versions interleaved. When a promotion or
// rollback removes the pinned version (it is neither live nor candidate any
// more) the next event of the conversation is served by the version chosen
// for its person, and the conversation is pinned to that one.
//
// # Logs and figures
//
// Logs keeps the last LogRing records per app (log lines, guest
// stdout/stderr, failures with the event that caused them) in memory and
// Flush persists them. Stats counts events, failures and a latency histogram
// per version in memory; Flush persists them too. Options.FlushEvery flushes periodically;
// a crash loses at most one period of logs and figures, never an upload or a
// rollout change, which are written at once.
package registry
