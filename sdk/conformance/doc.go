// Package conformance holds the ABI passerelle_v1 conformance vectors: small
// WebAssembly guests, each either valid or breaking named rules, with the
// outcome `passerelle app check` and the sandbox must give. An SDK author
// compares a new SDK's output with them; the package's test runs them
// against the platform's checker and sandbox.
//
// The vectors live in testdata/ (see its README for how they are rebuilt).
// testdata/sdk holds the same probe app written with each guest SDK (Go and
// C) and the scenarios every SDK's probe must pass, with the same verdicts
// from the checker (see testdata/sdk/README.md).
package conformance
