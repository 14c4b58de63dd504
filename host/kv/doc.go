// Package kv is the per-app key-value store mini-apps use through the
// kv.get, kv.set, kv.delete and kv.list operations.
//
// # Namespaces
//
// Every app (merchant + app id, shared by all its versions) has its own
// namespace; nothing in the API names another app, so one app can never read
// or list another's keys. Inside it, scope "app" (the default) holds keys
// shared by everyone using the app, and scope "person" holds keys private to
// the person of the current event, stored under that person's per-app
// pseudonymous id (OpenID), never the platform id.
//
// # Values
//
// Values are opaque bytes. On the wire a value is the JSON string "value"
// (UTF-8 text) or "value_b64" (standard base64 of any bytes); kv.get answers
// in the form the value was written in.
//
// # Limits
//
// Keys are 1..MaxKeyBytes bytes of UTF-8; values at most MaxValueBytes (a
// longer key or value is a quota error, not a bad request). The
// bytes stored (key + value) are bounded per app (MaxAppBytes) and per person
// per app (MaxPersonBytes). A write that would exceed a limit returns
// host.StatusQuota and writes nothing; usage counters change in the same
// transaction as the data. Config may lower or raise these limits.
//
// # Storage
//
// Buckets: kv.data (one nested bucket per app) and kv.usage. Concurrent
// writes share transactions (one fsync per group, no delay when alone).
//
// # Hooks the integrator wires
//
//   - Config.Pseudonyms: the identity service (its OpenID method) maps a
//     person to the per-app id that names their private scope.
//   - Funcs() goes to the runtime's sandbox.Config.Funcs.
package kv
