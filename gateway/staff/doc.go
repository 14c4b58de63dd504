// Package staff keeps the members of a merchant's staff who answer its
// inbox, and their sign-in credentials, on bbolt.
//
// A merchant (with its API token) adds a member by the name people and
// colleagues see. The member gets a one-time sign-in link; opening it
// exchanges the code for a session: a short-lived access token (a JWT,
// HS256 with a key the store keeps, 15 minutes) and a refresh token (an
// opaque secret, rotated at every use). The gateway puts both in HttpOnly,
// SameSite=Strict cookies (gateway/api). Neither opens anything but the
// merchant inbox: the access token names a member, not a merchant, and
// gateway/api accepts it on /v1/handoffs only.
//
// # What is stored
//
// Only SHA-256 digests of the sign-in codes and of the refresh secrets
// are stored; the code is shown once, when the member is added (or a new
// link is made). A sign-in code is good once, for LinkTTL. A session ends
// when it has not been refreshed for SessionIdle, SessionMax after the
// sign-in whatever, at sign-out, or when the member is removed.
//
// # Ending sessions at once
//
// The store keeps the live sessions in memory, loaded at Open. Verify
// checks an access token's signature and expiry, then that its session is
// still live: removing a member or signing out ends its sessions for the
// very next request, although their access tokens have not expired yet.
//
// # Refresh reuse
//
// A refresh secret is replaced at every refresh. The one just replaced is
// still accepted for RefreshGrace (two tabs refreshing at once); an older
// one, or the replaced one later, means someone kept a copy: the session
// ends.
//
// # Buckets
//
// staff.members (merchant 0 id -> Member JSON), staff.links (code digest
// -> link JSON), staff.sessions (session id -> session JSON) and
// staff.keys (the access tokens' signing key).
package staff
