// Package api is the merchants' HTTP API under /v1: upload app versions,
// list apps and versions, promote (gray release) and roll back, read and
// follow app logs, read figures, connect the merchant's WhatsApp,
// Messenger and Instagram accounts to its apps (connections.go: secrets in,
// never out). API.md documents every endpoint.
//
// # Authentication
//
// Every request carries "Authorization: Bearer TOKEN" with a merchant
// token; the Authenticator says who it is. A person's token is refused, and
// a merchant only ever sees its own apps: another merchant's app answers
// app_not_found, as if it did not exist.
//
// # Errors
//
// Every error body is {"error":{"code":"...","message":"..."}}, plus
// "violations" for a rejected module. The codes are stable; errors.go maps
// each one to its HTTP status in one table.
//
// # Uploads
//
// An upload is streamed into a temporary file through http.MaxBytesReader,
// so a body over the size cap is refused before it is held in memory. It
// is then checked against the ABI, its manifest validated, its permissions
// compared with its imports, compiled, and only then stored. A rejected
// upload changes nothing: the live version keeps serving.
package api
