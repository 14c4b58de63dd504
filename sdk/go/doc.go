// Package passerelle is the Go SDK for Passerelle mini-apps. A mini-app is a
// WebAssembly reactor module that the platform runs in its sandbox; this
// package hides the guest ABI (passerelle_v1, see sdk/ABI.md) behind
// handlers and typed host calls.
//
// Import it as
//
//	import passerelle "github.com/passerelle/passerelle/sdk/go"
//
// The SDK is a module of its own that requires nothing else, so an app's
// module requires it alone. `passerelle app new DIR` starts an app anywhere
// on disk, with a test on the in-memory host of package sdktest; the
// passerelle binary carries this module and hands it to the go command
// through a local module proxy, with no network.
//
// # Writing an app
//
// Build an *App, register one handler per event type and hand it to Serve
// from an init function of package main. A wasip1 c-shared build never runs
// main, so main stays empty:
//
//	//go:build wasip1
//
//	package main
//
//	import passerelle "github.com/passerelle/passerelle/sdk/go"
//
//	func init() {
//		app := passerelle.NewApp()
//		app.OnMessage(func(c *passerelle.Context, ev *passerelle.Event) error {
//			_, err := c.SendText("you said: " + ev.Text)
//			return err
//		})
//		passerelle.Serve(app)
//	}
//
//	func main() {}
//
// Build it with `passerelle app build DIR`, which runs
// `GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared` and embeds DIR/manifest.json.
//
// # Handlers and the Context
//
// A Handler receives a *Context and the decoded *Event. The Context makes host
// calls (Send, SendText, SendCard, Log and the helpers for storage, identity,
// payments and timers) for that one event. Neither may be kept after the
// handler returns: the SDK reuses them for the next event to keep the guest
// allocation-light. The strings they hold (the event's fields, the results
// of host calls) are never overwritten and may be kept.
//
// Events of a type with no handler are acknowledged and ignored. A handler's
// error ends the event: inside the sandbox it is written to the app log and
// on_event returns its status code (see StatusOf). A panic is not recovered:
// the Go runtime prints it to stderr, which the platform puts in the app
// log, and exits; the platform discards that instance and serves the next
// event with a fresh one.
//
// # Events are transactions
//
// Everything a handler does (storage writes, messages, timers, payment
// requests, consent prompts, log lines) takes effect together when it
// returns nil, or not at all when it returns an error or panics: a write
// made before a failure is not kept, and nobody sees a message of a failed
// event. The platform delivers each payment, timer and consent event until
// a handler of it succeeded, and never after, so handlers need no "already
// handled" bookkeeping. Inside a handler, Store and PersonStore read the
// handler's own writes. When two events of the app change a key the other
// read, the platform runs one of them again from the start, with the same
// event; nothing of the dropped run is seen. Payment idempotency keys stay:
// they tie a request to its order across events. sdk/ABI.md, "Events and
// their effects", has the details.
//
// # Errors
//
// A failed host call returns an *Error carrying the operation, the ABI status,
// its stable code and the host's message. It unwraps to one of the sentinel
// errors, so callers write
//
//	if errors.Is(err, passerelle.ErrConsentRequired) { ... }
//
// # Testing without wasm
//
// Package passerelle/sdk/go/sdktest runs an App natively against an in-memory
// host that records what the app sent, so app logic is unit-tested with plain
// `go test`.
//
// # Adding a host operation
//
// Every operation is one ABI import, so the SDK names it statically: the wasm
// file then imports only the operations the app really uses (the platform
// rejects a module importing an operation its manifest does not permit). A
// typed helper is one method calling Context.call with the dotted operation
// name and the import function declared in imports_wasip1.go (with its nil
// twin in imports_other.go for native builds).
package passerelle
