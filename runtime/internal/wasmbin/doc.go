// Package wasmbin reads and writes the primitives of the WebAssembly binary
// format (LEB128 integers, names, byte runs) for the packages that parse
// modules by hand: runtime/wasmfile and runtime/meter. It knows nothing of
// sections or instructions.
package wasmbin
