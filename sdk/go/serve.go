package passerelle

// served is the app answering passerelle_v1_on_event inside the sandbox. A
// module has exactly one, set once from an init function; it is the only
// package-level state of the SDK.
var served *App

// Serve makes a the app that answers events inside the sandbox. Call it from
// an init function of package main: a wasip1 c-shared build never runs main.
// Outside the sandbox it has no effect; run apps natively with App.Dispatch
// or package sdktest.
func Serve(a *App) { served = a }
