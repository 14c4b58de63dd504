// Package identity is the platform's identity service: people and their
// linked surface accounts, merchants, signed session tokens, pseudonymous
// ids for mini-apps and the scopes people grant to them.
//
// # Storage
//
// The service owns these top-level buckets of the shared bbolt database:
// identity.people, identity.accounts, identity.merchants, identity.keys,
// identity.grants, identity.prompts and identity.answers (answers to consent
// prompts kept until their app has them). The Ed25519 signing key and the
// pseudonym secret are generated on first start and kept in identity.keys.
//
// # Tokens
//
// Issue signs a JWT (EdDSA, Ed25519) for a subject and a role ("person",
// "merchant" or "operator"). Verify accepts only EdDSA tokens signed with the
// service's key, with the configured issuer and audience, an expiry, and a
// not-before in the past. Every refusal is logged with its reason.
//
// # Pseudonyms
//
// A mini-app never sees a platform person id. OpenID gives the stable id a
// person has inside one app (HMAC-SHA256 over merchant, app and person with a
// server secret), UnionID the id a person has across all the apps of one
// merchant. Two apps cannot correlate a person from their OpenIDs.
//
// # Scopes and consent
//
// A person grants an app (merchant + app id, any version) the scopes
// identity.profile (display name) and identity.phone (phone number). Grants
// carry the time and the surface they came from; they are listed with Grants
// and revoked with Revoke, and a revoked scope is refused from the next call
// on.
//
// The operation identity.profile needs the manifest permission for each
// field asked for AND the person's grant. Without a grant it returns
// host.StatusConsentRequired and emits a consent prompt to the person through
// host.Call.Out:
//
//	host.Outgoing{Prompt: &host.Prompt{ID: <prompt id>, Kind: s.PromptKind(), Person: <platform id>, Body:
//	  {"type":"consent","id":"<prompt id>","app":"<app id>","merchant":"<merchant>","merchant_name":"<display name>","scopes":["identity.phone"]}}}
//
// # Hooks the integrator wires
//
//   - Verify(token) (subject, role, err) is the Authenticator of the gateway and
//     of the merchant HTTP API.
//   - Grant(ctx, person, promptID, surface) and Refuse(ctx, person, promptID)
//     answer a consent prompt; PromptKind (the consent prompt, for
//     gateway.Config.Prompts) calls them when the person answers.
//   - Config.Answered(ctx, prompt, granted) is called after an answer is
//     committed, in the goroutine of Grant or Refuse. The Prompt names the
//     app (Prompt.Ref), the person and the conversation where the app asked
//     (the latest call, when it asked more than once before the answer);
//     Prompt.Event gives the host.ConsentEvent the app receives as a
//     "consent" event. The platform queues it for the app router
//     (host/services.Event, runtime/hostevents), so that the app continues by
//     itself once the person answered, and then calls AnswerDelivered. An
//     answer is kept (in the transaction that commits it) until then;
//     Redeliver, called at start, hands the answers a stopped process kept
//     to Config.Answered again.
//   - Person, FindPeople and PersonByAccount back the gateway's people
//     directory; EnsurePerson signs in a surface account.
//   - OpenID is what the app router uses to fill host.Event.User; kv uses it for
//     per-person keys.
//   - Funcs() is handed to the runtime's sandbox.Config.Funcs.
package identity
