// Package wasmfile reads and writes the manifest a Passerelle mini-app
// carries inside its WebAssembly file. It parses the binary format by hand
// and does not depend on a wasm runtime.
//
// # The manifest section
//
// A mini-app's manifest (host.Manifest, JSON) travels in a custom section
// named "passerelle.manifest". Custom sections are ignored by wasm runtimes,
// so the module stays valid and its code is unchanged. A file has at most
// one such section: EmbedManifest replaces any existing one and appends the
// new one at the end of the file; ReadManifest rejects a file with two.
// CustomSection and EmbedCustom do the same for any other custom section
// (runtime/assets keeps an app's images in "passerelle.assets").
//
// # The shape of a module
//
// ReadShape counts what a module declares (functions, exports, imports,
// globals, tables and their sizes, data segments, code size, locals per
// function, custom sections) from its section headers and the headers of
// its function bodies, without decoding code, so that a platform can bound
// the cost of compiling a module before compiling it.
//
// # Untrusted input
//
// Every function takes bytes uploaded by merchants. They check every length
// against the bytes that remain, never allocate more than the input's size
// and return ErrNotWasm or ErrMalformed (wrapped, with the offset) rather
// than panicking.
package wasmfile
