package meter

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"

	"github.com/passerelle/passerelle/runtime/internal/wasmbin"
	"github.com/passerelle/passerelle/runtime/wasmfile"
)

// Version is the version of the instrumentation. It is written into every
// instrumented module (custom section "passerelle.meter"), so a compilation
// cache keyed by the module's bytes never serves code instrumented by an
// older version.
const Version = 1

// Names the instrumented module imports and exports.
const (
	// Module is the import module of the two host functions. A guest may
	// not import it itself: Instrument refuses such a module.
	Module = "passerelle_meter"
	// ImportRefill is refill(left i64) -> i64: called when the fuel global
	// goes below zero, with its value; returns the new value.
	ImportRefill = "refill"
	// ImportDepth is depth_exceeded(): called when a call would go deeper
	// than Options.MaxDepth. It must not return (the host aborts the guest);
	// if it does, the guest traps with unreachable.
	ImportDepth = "depth_exceeded"
	// ExportFuel is the export name of the fuel global (mutable i64).
	ExportFuel = Module + ".fuel"
	// ExportDepth is the export name of the call depth global (mutable i32).
	ExportDepth = Module + ".depth"
	// SectionName is the custom section recording the instrumentation.
	SectionName = "passerelle.meter"
)

// DefaultMaxDepth is the call depth used when Options.MaxDepth is 0.
const DefaultMaxDepth = 10000

var (
	// ErrMalformed means the module could not be decoded.
	ErrMalformed = errors.New("malformed WebAssembly module")
	// ErrUnsupported means the module uses an instruction or a type form
	// the instrumentation does not handle (exceptions, tail calls, GC
	// types...), none of which the sandbox's wasm runtime runs either.
	ErrUnsupported = errors.New("unsupported WebAssembly feature")
	// ErrReserved means the module imports Module or exports one of the
	// names the instrumentation adds.
	ErrReserved = errors.New("reserved name")
)

// Options configure Instrument.
type Options struct {
	MaxDepth uint32 // deepest call nesting allowed; 0 means DefaultMaxDepth
}

// Bulk memory and table instructions are charged by their length operand,
// one unit per 1<<memShift bytes and per 1<<tableShift elements.
const (
	memShift   = 6
	tableShift = 3
)

// added is the number of function imports Instrument adds: every defined
// function's index moves up by it.
const added = 2

type funcType struct{ params, results []byte }

func (t funcType) equal(p, r []byte) bool {
	return bytes.Equal(t.params, p) && bytes.Equal(t.results, r)
}

type section struct {
	id      byte
	name    string // custom sections
	payload []byte // after the custom name for id 0
	at      int    // file offset of payload
}

// module is what Instrument learns about the input and the parts it
// rewrites.
type module struct {
	opt        Options
	types      []funcType
	typeCount  int    // types in the input; later ones were added
	imports    uint32 // entries of the import section
	funcImps   uint32
	globalImps uint32
	globals    uint32 // defined in the input
	funcTypes  []uint32
	fuel       uint32 // index of the fuel global
	depth      uint32 // index of the depth global
	refill     uint32 // function index of refill
	overflow   uint32 // function index of depth_exceeded
}

// funcs is the number of functions (imported and defined) of the input.
func (m *module) funcs() uint32 { return m.funcImps + uint32(len(m.funcTypes)) }

// shift maps a function index of the input to the output.
func (m *module) shift(idx uint32) uint32 {
	if idx < m.funcImps {
		return idx
	}
	return idx + added
}

// typeIndex returns the index of the function type (p) -> (r), adding it
// when the module has none.
func (m *module) typeIndex(p, r []byte) uint32 {
	for i, t := range m.types {
		if t.equal(p, r) {
			return uint32(i)
		}
	}
	m.types = append(m.types, funcType{params: bytes.Clone(p), results: bytes.Clone(r)})
	return uint32(len(m.types) - 1)
}

// Instrument returns wasm with metering and a call depth bound added:
//
//   - a mutable i64 fuel global, lowered at every function entry and loop
//     header by the cost of the code that follows (see the package doc);
//     when it goes below zero the guest calls Module.refill;
//   - a mutable i32 depth global, raised at every function entry and
//     lowered at every exit; past opt.MaxDepth the guest calls
//     Module.depth_exceeded.
//
// Both globals are exported (ExportFuel, ExportDepth) so that the host can
// set and read them. The input is untrusted: a malformed module returns an
// error wrapping ErrMalformed, never a panic. Instrument does not fully
// validate the module; the runtime compiling the output does. It does check
// every function, global and local index the input uses, so that input code
// cannot reach what the instrumentation adds.
func Instrument(wasm []byte, opt Options) ([]byte, error) {
	if opt.MaxDepth == 0 {
		opt.MaxDepth = DefaultMaxDepth
	}
	secs, err := split(wasm)
	if err != nil {
		return nil, err
	}
	m := &module{opt: opt}
	byID := map[byte]*section{}
	for i := range secs {
		s := &secs[i]
		if s.id == 0 {
			continue
		}
		if byID[s.id] != nil {
			return nil, fmt.Errorf("%w: section %d appears twice", ErrMalformed, s.id)
		}
		byID[s.id] = s
	}
	if s := byID[1]; s != nil {
		if err := m.readTypes(s); err != nil {
			return nil, err
		}
	}
	m.typeCount = len(m.types)
	var imports []byte
	if s := byID[2]; s != nil {
		if imports, err = m.readImports(wasm, s); err != nil {
			return nil, err
		}
	}
	if s := byID[3]; s != nil {
		r := newReader(s.payload, s.at)
		n := r.count()
		m.funcTypes = make([]uint32, n)
		for i := range m.funcTypes {
			m.funcTypes[i] = r.U32()
			if r.Err == nil && int(m.funcTypes[i]) >= m.typeCount {
				r.Fail("function %d has type %d; the module has %d types", i, m.funcTypes[i], m.typeCount)
			}
		}
		if r.Err != nil {
			return nil, r.Err
		}
	}
	var globalEntries []byte
	var globalCount uint32
	if s := byID[6]; s != nil {
		r := newReader(s.payload, s.at)
		globalCount = uint32(r.count())
		globalEntries = r.B[r.Off:]
		m.globals = globalCount
		if r.Err != nil {
			return nil, r.Err
		}
	}
	m.fuel = m.globalImps + m.globals
	m.depth = m.fuel + 1
	m.refill = m.funcImps
	m.overflow = m.funcImps + 1

	out := map[byte][]byte{}

	// Globals: the input's (const expressions may hold ref.func), then
	// fuel and depth.
	g := wasmbin.AppendU32(nil, globalCount+2)
	if globalCount > 0 {
		r := newReader(globalEntries, byID[6].at+len(byID[6].payload)-len(globalEntries))
		for range globalCount {
			vt := r.Off
			r.valType()
			r.Byte() // mutability
			g = append(g, r.B[vt:r.Off]...)
			g = m.constExpr(r, g)
		}
		if r.Err != nil {
			return nil, r.Err
		}
		if !r.Done() {
			return nil, fmt.Errorf("%w: global section has %d bytes after its last entry", ErrMalformed, len(r.B)-r.Off)
		}
	}
	g = append(g, 0x7e, 0x01, 0x42, 0x00, 0x0b) // (mut i64) (i64.const 0)
	g = append(g, 0x7f, 0x01, 0x41, 0x00, 0x0b) // (mut i32) (i32.const 0)
	out[6] = g

	if out[7], err = m.exports(byID[7]); err != nil {
		return nil, err
	}
	if s := byID[8]; s != nil {
		r := newReader(s.payload, s.at)
		idx := m.funcIndex(r)
		if r.Err != nil {
			return nil, r.Err
		}
		out[8] = wasmbin.AppendU32(nil, idx)
	}
	if s := byID[9]; s != nil {
		if out[9], err = m.elements(s); err != nil {
			return nil, err
		}
	}
	code := byID[10]
	if code == nil && len(m.funcTypes) > 0 {
		return nil, fmt.Errorf("%w: %d functions declared and no code section", ErrMalformed, len(m.funcTypes))
	}
	if code != nil {
		if out[10], err = m.code(code); err != nil {
			return nil, err
		}
	}

	// Imports last among the rewrites: code may have added types, and the
	// two new imports need theirs.
	refillType := m.typeIndex([]byte{0x7e}, []byte{0x7e})
	depthType := m.typeIndex(nil, nil)
	imp := imports
	imp = appendImport(imp, ImportRefill, refillType)
	imp = appendImport(imp, ImportDepth, depthType)
	out[2] = append(wasmbin.AppendU32(nil, m.imports+added), imp...)
	out[1] = m.typeSection()

	return m.assemble(wasm, secs, out)
}

func appendImport(b []byte, name string, typ uint32) []byte {
	b = appendName(b, Module)
	b = appendName(b, name)
	b = append(b, 0x00)
	return wasmbin.AppendU32(b, typ)
}

// split returns the sections of wasm.
func split(wasm []byte) ([]section, error) {
	if len(wasm) < 8 || string(wasm[:4]) != "\x00asm" {
		return nil, fmt.Errorf("%w: the file does not start with \\0asm", ErrMalformed)
	}
	if string(wasm[4:8]) != "\x01\x00\x00\x00" {
		return nil, fmt.Errorf("%w: binary format version %x, want 1", ErrMalformed, wasm[4:8])
	}
	r := newReader(wasm, 0)
	r.Off = 8 // after the header
	var secs []section
	for !r.Done() {
		id := r.Byte()
		size := r.U32()
		start := r.Off
		body := r.Bytes(int(size))
		if r.Err != nil {
			return nil, r.Err
		}
		s := section{id: id, payload: body, at: start}
		if id == 0 {
			cr := newReader(body, start)
			s.name = cr.Name()
			if cr.Err != nil {
				return nil, cr.Err
			}
			s.payload = body[cr.Off:]
			s.at = start + cr.Off
		} else if rank(id) == 0 {
			return nil, fmt.Errorf("%w: unknown section id %d at offset %d", ErrMalformed, id, start)
		}
		secs = append(secs, s)
	}
	return secs, r.Err
}

// rank orders the known sections as the binary format requires.
func rank(id byte) int {
	switch id {
	case 1, 2, 3, 4, 5:
		return int(id)
	case 13: // tag
		return 6
	case 6, 7, 8, 9:
		return int(id) + 1
	case 12: // data count
		return 11
	case 10:
		return 12
	case 11:
		return 13
	}
	return 0
}

// assemble writes the output: the input's sections in their order with
// the rewritten ones replaced, the missing ones (type, import, global,
// export) inserted where they belong, and the passerelle.meter section at
// the end. The name section is rewritten for the new function indices.
func (m *module) assemble(wasm []byte, secs []section, out map[byte][]byte) ([]byte, error) {
	b := make([]byte, 0, len(wasm)+len(wasm)/4+64)
	b = append(b, wasm[:8]...)
	written := map[byte]bool{}
	flush := func(upTo int) {
		for _, id := range []byte{1, 2, 6, 7} {
			if p, ok := out[id]; ok && !written[id] && rank(id) < upTo {
				b = appendSection(b, id, p)
				written[id] = true
			}
		}
	}
	for _, s := range secs {
		if s.id == 0 {
			switch s.name {
			case SectionName:
				continue // instrumented twice: keep the new one only
			case "name":
				p, err := m.names(s)
				if err != nil {
					// A broken name section is only debugging information.
					continue
				}
				b = appendSection(b, 0, append(appendName(nil, "name"), p...))
			default:
				b = appendSection(b, 0, append(appendName(nil, s.name), s.payload...))
			}
			continue
		}
		flush(rank(s.id))
		if p, ok := out[s.id]; ok {
			b = appendSection(b, s.id, p)
			written[s.id] = true
		} else {
			b = appendSection(b, s.id, s.payload)
		}
	}
	flush(100)
	info := "version=" + strconv.Itoa(Version) + " max_depth=" + strconv.FormatUint(uint64(m.opt.MaxDepth), 10)
	b = appendSection(b, 0, append(appendName(nil, SectionName), info...))
	return b, nil
}

func (m *module) readTypes(s *section) error {
	r := newReader(s.payload, s.at)
	n := r.count()
	for range n {
		if c := r.Byte(); c != 0x60 && r.Err == nil {
			return fmt.Errorf("%w: type form %#x (only function types are supported)", ErrUnsupported, c)
		}
		p := r.valTypes()
		res := r.valTypes()
		m.types = append(m.types, funcType{params: p, results: res})
	}
	if r.Err == nil && !r.Done() {
		r.Fail("type section has bytes after its last entry")
	}
	return r.Err
}

// valTypes reads a vector of value types, each one byte.
func (r *reader) valTypes() []byte {
	n := r.count()
	b := r.Bytes(n)
	for _, c := range b {
		if !isValType(c) {
			if r.Err == nil {
				r.Err = fmt.Errorf("%w: value type %#x", ErrUnsupported, c)
			}
			return nil
		}
	}
	return b
}

func isValType(c byte) bool {
	switch c {
	case 0x7f, 0x7e, 0x7d, 0x7c, 0x7b, 0x70, 0x6f:
		return true
	}
	return false
}

func (r *reader) valType() {
	if c := r.Byte(); r.Err == nil && !isValType(c) {
		r.Err = fmt.Errorf("%w: value type %#x at offset %d", ErrUnsupported, c, r.at+r.Off-1)
	}
}

// readImports counts the function and global imports, refuses imports of
// Module and returns the entries (without the count).
func (m *module) readImports(wasm []byte, s *section) ([]byte, error) {
	imps, err := wasmfile.Imports(wasm)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	for _, imp := range imps {
		switch {
		case imp.Module == Module:
			return nil, fmt.Errorf("%w: the module imports %s.%s; the module name %q belongs to the host", ErrReserved, imp.Module, imp.Name, Module)
		case imp.Kind == wasmfile.KindFunc:
			m.funcImps++
		case imp.Kind == wasmfile.KindGlobal:
			m.globalImps++
		}
	}
	m.imports = uint32(len(imps))
	r := newReader(s.payload, s.at)
	r.U32() // the count
	return s.payload[r.Off:], r.Err
}

func (m *module) typeSection() []byte {
	b := wasmbin.AppendU32(nil, uint32(len(m.types)))
	for _, t := range m.types {
		b = append(b, 0x60)
		b = wasmbin.AppendU32(b, uint32(len(t.params)))
		b = append(b, t.params...)
		b = wasmbin.AppendU32(b, uint32(len(t.results)))
		b = append(b, t.results...)
	}
	return b
}

// funcIndex reads a function index of the input, checks it and returns it
// shifted.
func (m *module) funcIndex(r *reader) uint32 {
	idx := r.U32()
	if r.Err == nil && idx >= m.funcs() {
		r.Fail("function index %d; the module has %d functions", idx, m.funcs())
	}
	return m.shift(idx)
}

func (m *module) exports(s *section) ([]byte, error) {
	var n int
	var b []byte
	if s != nil {
		r := newReader(s.payload, s.at)
		n = r.count()
		for range n {
			name := r.Name()
			if r.Err == nil && (name == ExportFuel || name == ExportDepth) {
				return nil, fmt.Errorf("%w: the module exports %q, a name the host adds", ErrReserved, name)
			}
			kind := r.Byte()
			b = appendName(b, name)
			b = append(b, kind)
			if kind == 0x00 {
				b = wasmbin.AppendU32(b, m.funcIndex(r))
			} else {
				b = wasmbin.AppendU32(b, r.U32())
			}
		}
		if r.Err == nil && !r.Done() {
			r.Fail("export section has bytes after its last entry")
		}
		if r.Err != nil {
			return nil, r.Err
		}
	}
	b = appendName(b, ExportFuel)
	b = append(b, 0x03)
	b = wasmbin.AppendU32(b, m.fuel)
	b = appendName(b, ExportDepth)
	b = append(b, 0x03)
	b = wasmbin.AppendU32(b, m.depth)
	return append(wasmbin.AppendU32(nil, uint32(n+2)), b...), nil
}

func (m *module) elements(s *section) ([]byte, error) {
	r := newReader(s.payload, s.at)
	n := r.count()
	b := wasmbin.AppendU32(nil, uint32(n))
	for range n {
		flags := r.U32()
		if flags > 7 {
			r.Fail("element segment flags %d", flags)
			break
		}
		b = wasmbin.AppendU32(b, flags)
		if flags&0x02 != 0 && flags&0x01 == 0 { // explicit table index
			b = wasmbin.AppendU32(b, r.U32())
		}
		if flags&0x01 == 0 { // active: offset expression
			b = m.constExpr(r, b)
		}
		if flags&0x03 != 0 { // elemkind or reftype
			b = append(b, r.Byte())
		}
		k := r.count()
		b = wasmbin.AppendU32(b, uint32(k))
		for range k {
			if flags&0x04 == 0 {
				b = wasmbin.AppendU32(b, m.funcIndex(r))
			} else {
				b = m.constExpr(r, b)
			}
		}
	}
	if r.Err == nil && !r.Done() {
		r.Fail("element section has bytes after its last entry")
	}
	return b, r.Err
}

// constExpr copies a constant expression, shifting ref.func.
func (m *module) constExpr(r *reader, b []byte) []byte {
	for r.Err == nil {
		start := r.Off
		op := r.Byte()
		switch op {
		case 0x0b:
			return append(b, op)
		case 0xd2:
			b = append(b, op)
			b = wasmbin.AppendU32(b, m.funcIndex(r))
			continue
		case 0x23:
			r.U32()
		case 0x41:
			r.SkipLEB(5)
		case 0x42:
			r.SkipLEB(10)
		case 0x43:
			r.Bytes(4)
		case 0x44:
			r.Bytes(8)
		case 0xd0:
			r.s33()
		case 0x6a, 0x6b, 0x6c, 0x7c, 0x7d, 0x7e: // extended constant expressions
		case 0xfd:
			if sub := r.U32(); sub != 12 && r.Err == nil {
				r.Fail("SIMD instruction %d in a constant expression", sub)
			}
			r.Bytes(16)
		default:
			r.Fail("instruction %#x in a constant expression", op)
		}
		b = append(b, r.B[start:r.Off]...)
	}
	return b
}

// names rewrites the function indices of the name section's function,
// local and label subsections and copies the others.
func (m *module) names(s section) ([]byte, error) {
	r := newReader(s.payload, s.at)
	var b []byte
	for !r.Done() {
		id := r.Byte()
		size := r.U32()
		sub := newReader(r.Bytes(int(size)), 0)
		var p []byte
		switch id {
		case 1: // function names
			n := sub.count()
			p = wasmbin.AppendU32(p, uint32(n))
			for range n {
				p = wasmbin.AppendU32(p, m.shift(sub.U32()))
				p = appendName(p, sub.Name())
			}
		case 2, 3: // local names, labels: per function
			n := sub.count()
			p = wasmbin.AppendU32(p, uint32(n))
			for range n {
				p = wasmbin.AppendU32(p, m.shift(sub.U32()))
				start := sub.Off
				k := sub.count()
				for range k {
					sub.U32()
					sub.Name()
				}
				p = append(p, sub.B[start:sub.Off]...)
			}
		default:
			p = sub.B
		}
		if sub.Err != nil {
			return nil, sub.Err
		}
		b = append(b, id)
		b = wasmbin.AppendU32(b, uint32(len(p)))
		b = append(b, p...)
	}
	return b, r.Err
}
