// Package connstore keeps the merchants' connections to Meta's networks
// (a WhatsApp phone number, a Facebook Page, an Instagram account) on
// bbolt, their secrets sealed under a key the operator holds. It
// implements connector.Connections for the gateway.
//
// # Secrets at rest
//
// Each secret (access token, app secret, verify token) is sealed on its
// own with AES-256-GCM under the current key of a Keyring, with a random
// nonce. The additional data binds it to its row and field: the
// connection's id, merchant, network and account, the field's name and
// the key's id. A copy of the database file alone reveals no secret, and
// a ciphertext moved to another row or field does not open (ErrBroken).
//
// # Keys
//
// The operator supplies the keys, never the store: 32 random bytes in
// base64 (GenerateKey; `passerelle secret-key`), in the environment
// variable PASSERELLE_SECRET_KEY or a file named by the config's
// secret_key_file. Several keys may be listed, the current one first; a
// key is known by its id (KeyID, a hash of it), written beside each
// secret. To rotate the key itself: put a new key first and keep the old
// one after it, run Rekey (`passerelle connections rekey`), which seals
// every secret again under the new key in one transaction, then drop the
// old key. A secret sealed under a key the keyring lacks answers
// ErrUnknownKey naming that key's id. Without any key the store refuses
// to connect or rotate with ErrNoKey, whose message says how to set one.
//
// # Accounts
//
// A network's account belongs to one connection: the same merchant
// connecting it again replaces the connection and keeps its id (and so
// its webhook URL); another merchant is refused with ErrAccountTaken.
//
// Info is what a merchant is shown: which secrets are set and when each
// was last set, never the secrets. Get, ByAccount and List open them, for
// the webhook routes and the senders only.
package connstore
