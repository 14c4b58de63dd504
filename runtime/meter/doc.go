// Package meter instruments a WebAssembly module so that the host regains
// control at bounded intervals whatever the guest's code looks like, and
// bounds the guest's call depth. It rewrites the binary format by hand and
// does not depend on a wasm runtime; runtime/sandbox applies it once per
// uploaded module, before compilation.
//
// # Fuel
//
// Instrument adds a mutable i64 global, the fuel, exported as ExportFuel.
// At every function entry and every loop header the guest subtracts a
// static cost and, when the fuel is below zero, calls the host import
// passerelle_meter.refill with it; the host returns the new value (or
// aborts the guest). Every path through a function either reaches a loop
// header, a call or the function's end within the code the last charge
// paid for, so the fuel bounds the work between two host calls: no code
// shape (loops, exponential call trees, deep recursion, long straight-line
// code) runs far without returning to the host.
//
// The cost model, in units:
//
//   - entering a function costs the number of instructions of its body that
//     lie outside any loop;
//   - one iteration of a loop costs the number of instructions directly in
//     that loop's body (not in a nested loop);
//   - memory.init, memory.copy and memory.fill cost one more unit per 64
//     bytes of their length, and table.init, table.copy and table.fill one
//     per 8 elements, charged before the instruction runs.
//
// Both branches of an if are charged, and a branch out of a block early does
// not get its units back: a unit is an upper bound on one executed
// instruction, not an exact count. The cost is static and deterministic:
// the same event on the same module always uses the same fuel.
//
// # Call depth
//
// A mutable i32 global, exported as ExportDepth, is raised at every
// function entry and lowered at every exit. Each body is wrapped in a block
// of the function's result type; return becomes a br to that block, and a
// branch to the function's own label lands on it too, so every normal exit
// passes the decrement. A trap leaves the count wrong, but a trapped
// instance is never used again. Past Options.MaxDepth the guest calls
// passerelle_meter.depth_exceeded, which must not return.
//
// # Index shifts
//
// The two imports are appended to the import section, so every defined
// function's index moves up by two: Instrument rewrites call and ref.func
// in code and constant expressions, element segments, exports, the start
// section and the name section's function, local and label maps. The two
// globals are appended after the module's own, so no global index moves.
//
// # Untrusted input
//
// Instrument takes merchants' uploads. It checks every length against the
// bytes that remain and returns ErrMalformed, ErrUnsupported or ErrReserved
// rather than panicking. It also checks every function, global and local
// index the input's code uses against what the input declares: otherwise an
// invalid module could name the fuel global, which only exists once the
// module is instrumented, and become valid.
package meter
