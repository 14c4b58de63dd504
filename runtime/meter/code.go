package meter

import (
	"fmt"

	"github.com/passerelle/passerelle/runtime/internal/wasmbin"
)

// kind says what the rewrite does with an instruction.
type kind uint8

const (
	kCopy         kind = iota // copied as is
	kBlock                    // block, if: opens a label
	kLoop                     // opens a label and a metering region
	kEnd                      // closes a label
	kReturn                   // becomes br to the wrapper block
	kFunc                     // ref.func: function index shifted
	kCall                     // call: function index shifted, fuel saved and reloaded around it
	kCallIndirect             // call_indirect: fuel saved and reloaded around it
	kMemBulk                  // memory.init/copy/fill: charged by length
	kTableBulk                // table.init/copy/fill: charged by length
)

// instr is one decoded instruction of a function body.
type instr struct {
	start, end int    // in the body
	kind       kind   // what the rewrite does
	op         byte   // first byte
	fn         uint32 // shifted function index, for kFunc
}

// code instruments every function body.
func (m *module) code(s *section) ([]byte, error) {
	r := newReader(s.payload, s.at)
	n := r.count()
	if r.Err != nil {
		return nil, r.Err
	}
	if n != len(m.funcTypes) {
		return nil, fmt.Errorf("%w: %d function bodies for %d declared functions", ErrMalformed, n, len(m.funcTypes))
	}
	out := make([]byte, 0, len(s.payload)+len(s.payload)/3)
	out = wasmbin.AppendU32(out, uint32(n))
	var f fn
	var body []byte
	for i := range n {
		size := r.U32()
		at := r.at + r.Off
		raw := r.Bytes(int(size))
		if r.Err != nil {
			return nil, r.Err
		}
		f = fn{m: m, typ: m.types[m.funcTypes[i]], instrs: f.instrs[:0], regions: f.regions[:0]}
		var err error
		body, err = f.instrument(newReader(raw, at), body[:0])
		if err != nil {
			return nil, fmt.Errorf("function %d: %w", m.funcImps+uint32(i), err)
		}
		out = wasmbin.AppendU32(out, uint32(len(body)))
		out = append(out, body...)
	}
	if !r.Done() {
		return nil, fmt.Errorf("%w: code section has bytes after its last body", ErrMalformed)
	}
	return out, nil
}

// maxLocals bounds the locals of one function (wazero's own limit is
// lower); it keeps the index arithmetic far from overflow.
const maxLocals = 1 << 20

// fn is the function being instrumented.
type fn struct {
	m       *module
	typ     funcType
	locals  uint32 // params and declared locals; the fuel local comes next
	scratch bool   // a bulk instruction needs the scratch i32 local (after the fuel local)
	instrs  []instr
	regions []int64 // static cost of the function entry (0) and of each loop, in order
}

func (f *fn) instrument(r *reader, b []byte) ([]byte, error) {
	m := f.m
	groups := r.count()
	localsStart := r.Off
	f.locals = uint32(len(f.typ.params))
	for range groups {
		k := r.U32()
		r.valType()
		if r.Err == nil && uint64(f.locals)+uint64(k) > maxLocals {
			return nil, fmt.Errorf("%w: more than %d locals", ErrUnsupported, maxLocals)
		}
		f.locals += k
	}
	localsEnd := r.Off
	if r.Err != nil {
		return nil, r.Err
	}
	if err := f.decode(r); err != nil {
		return nil, err
	}

	// Locals: the input's, the fuel's, then the scratch i32 if needed.
	if f.scratch {
		b = wasmbin.AppendU32(b, uint32(groups+2))
	} else {
		b = wasmbin.AppendU32(b, uint32(groups+1))
	}
	b = append(b, r.B[localsStart:localsEnd]...)
	b = append(b, 0x01, 0x7e)
	if f.scratch {
		b = append(b, 0x01, 0x7f)
	}

	b = f.enter(b)
	b = f.load(b)
	b = f.charge(b, f.regions[0])
	b = append(b, 0x02) // block with the function's results
	switch len(f.typ.results) {
	case 0:
		b = append(b, 0x40)
	case 1:
		b = append(b, f.typ.results[0])
	default:
		b = appendS64(b, int64(m.typeIndex(nil, f.typ.results)))
	}
	depth, loops := uint32(0), 0
	for _, in := range f.instrs[:len(f.instrs)-1] { // the last is the function's end
		switch in.kind {
		case kReturn:
			b = append(b, 0x0c)
			b = wasmbin.AppendU32(b, depth)
			continue
		case kFunc:
			b = append(b, in.op)
			b = wasmbin.AppendU32(b, in.fn)
			continue
		case kCall:
			b = f.store(b)
			b = append(b, in.op)
			b = wasmbin.AppendU32(b, in.fn)
			b = f.load(b)
			continue
		case kCallIndirect:
			b = f.store(b)
			b = append(b, r.B[in.start:in.end]...)
			b = f.load(b)
			continue
		case kBlock:
			depth++
		case kLoop:
			depth++
			loops++
			b = append(b, r.B[in.start:in.end]...)
			b = f.charge(b, f.regions[loops])
			continue
		case kEnd:
			depth--
		case kMemBulk:
			b = f.chargeLength(b, memShift)
		case kTableBulk:
			b = f.chargeLength(b, tableShift)
		}
		b = append(b, r.B[in.start:in.end]...)
	}
	b = append(b, 0x0b) // the wrapper block
	b = f.store(b)
	b = f.leave(b)
	return append(b, 0x0b), nil
}

// decode reads the body's instructions into f.instrs and computes the
// static cost of each region: an instruction is charged to the innermost
// loop around it, or to the function entry outside any loop.
func (f *fn) decode(r *reader) error {
	open := []int{0} // region of each open label; the function's first
	f.regions = append(f.regions, 0)
	for len(open) > 0 {
		if r.Done() {
			if r.Err != nil {
				return r.Err
			}
			return fmt.Errorf("%w: function body ends inside a block", ErrMalformed)
		}
		in := instr{start: r.Off}
		f.decodeOne(r, &in)
		if r.Err != nil {
			return r.Err
		}
		in.end = r.Off
		f.regions[open[len(open)-1]]++
		switch in.kind {
		case kBlock:
			open = append(open, open[len(open)-1])
		case kLoop:
			f.regions = append(f.regions, 0)
			open = append(open, len(f.regions)-1)
		case kEnd:
			open = open[:len(open)-1]
		case kMemBulk, kTableBulk:
			f.scratch = true
		}
		f.instrs = append(f.instrs, in)
	}
	if !r.Done() {
		return fmt.Errorf("%w: %d bytes after the function's end", ErrMalformed, len(r.B)-r.Off)
	}
	return nil
}

func (f *fn) decodeOne(r *reader, in *instr) {
	m := f.m
	op := r.Byte()
	in.op = op
	switch {
	case op == 0x00, op == 0x01, op == 0x05, op == 0x1a, op == 0x1b, op >= 0x45 && op <= 0xc4, op == 0xd1:
	case op == 0x02, op == 0x04:
		r.s33()
		in.kind = kBlock
	case op == 0x03:
		r.s33()
		in.kind = kLoop
	case op == 0x0b:
		in.kind = kEnd
	case op == 0x0c, op == 0x0d:
		r.U32()
	case op == 0x0e:
		n := r.count()
		for range n + 1 {
			r.U32()
		}
	case op == 0x0f:
		in.kind = kReturn
	case op == 0x10:
		in.kind = kCall
		in.fn = m.funcIndex(r)
	case op == 0xd2:
		in.kind = kFunc
		in.fn = m.funcIndex(r)
	case op == 0x11:
		in.kind = kCallIndirect
		r.U32()
		r.U32()
	case op == 0x1c:
		r.valTypes()
	case op >= 0x20 && op <= 0x22:
		if idx := r.U32(); r.Err == nil && idx >= f.locals {
			r.Fail("local %d; the function has %d", idx, f.locals)
		}
	case op == 0x23, op == 0x24:
		if idx := r.U32(); r.Err == nil && idx >= m.globalImps+m.globals {
			r.Fail("global %d; the module has %d", idx, m.globalImps+m.globals)
		}
	case op == 0x25, op == 0x26:
		r.U32()
	case op >= 0x28 && op <= 0x3e:
		r.memarg()
	case op == 0x3f, op == 0x40:
		r.U32()
	case op == 0x41:
		r.SkipLEB(5)
	case op == 0x42:
		r.SkipLEB(10)
	case op == 0x43:
		r.Bytes(4)
	case op == 0x44:
		r.Bytes(8)
	case op == 0xd0:
		r.s33()
	case op == 0xfc:
		f.decodeFC(r, in)
	case op == 0xfd:
		decodeFD(r)
	default:
		if r.Err == nil {
			r.Err = fmt.Errorf("%w: instruction %#x at offset %d", ErrUnsupported, op, r.at+r.Off-1)
		}
	}
}

func (r *reader) memarg() {
	if align := r.U32(); align&0x40 != 0 { // multi-memory: a memory index follows
		r.U32()
	}
	r.SkipLEB(10)
}

func (f *fn) decodeFC(r *reader, in *instr) {
	switch sub := r.U32(); sub {
	case 0, 1, 2, 3, 4, 5, 6, 7: // trunc_sat
	case 8: // memory.init data mem
		r.U32()
		r.U32()
		in.kind = kMemBulk
	case 9, 13, 15, 16: // data.drop, elem.drop, table.grow, table.size
		r.U32()
	case 10: // memory.copy dst src
		r.U32()
		r.U32()
		in.kind = kMemBulk
	case 11: // memory.fill
		r.U32()
		in.kind = kMemBulk
	case 12, 14: // table.init elem table, table.copy dst src
		r.U32()
		r.U32()
		in.kind = kTableBulk
	case 17: // table.fill
		r.U32()
		in.kind = kTableBulk
	default:
		if r.Err == nil {
			r.Err = fmt.Errorf("%w: instruction 0xfc %d at offset %d", ErrUnsupported, sub, r.at+r.Off)
		}
	}
}

func decodeFD(r *reader) {
	switch sub := r.U32(); {
	case sub <= 11, sub == 92, sub == 93: // loads, stores
		r.memarg()
	case sub == 12, sub == 13: // v128.const, i8x16.shuffle
		r.Bytes(16)
	case sub >= 21 && sub <= 34: // extract_lane, replace_lane
		r.Byte()
	case sub >= 84 && sub <= 91: // load_lane, store_lane
		r.memarg()
		r.Byte()
	case sub <= 0x113: // no immediates (relaxed SIMD included)
	default:
		if r.Err == nil {
			r.Err = fmt.Errorf("%w: instruction 0xfd %d at offset %d", ErrUnsupported, sub, r.at+r.Off)
		}
	}
}

// enter raises the depth global and calls depth_exceeded past the bound.
func (f *fn) enter(b []byte) []byte {
	m := f.m
	b = append(b, 0x23)
	b = wasmbin.AppendU32(b, m.depth)
	b = append(b, 0x41, 0x01, 0x6a, 0x24) // i32.const 1, i32.add, global.set
	b = wasmbin.AppendU32(b, m.depth)
	b = append(b, 0x23)
	b = wasmbin.AppendU32(b, m.depth)
	b = append(b, 0x41)
	b = appendS64(b, int64(m.opt.MaxDepth))
	b = append(b, 0x4b, 0x04, 0x40, 0x10) // i32.gt_u, if, call
	b = wasmbin.AppendU32(b, m.overflow)
	return append(b, 0x00, 0x0b) // unreachable, end
}

// leave lowers the depth global.
func (f *fn) leave(b []byte) []byte {
	m := f.m
	b = append(b, 0x23)
	b = wasmbin.AppendU32(b, m.depth)
	b = append(b, 0x41, 0x01, 0x6b, 0x24) // i32.const 1, i32.sub, global.set
	return wasmbin.AppendU32(b, m.depth)
}

// fuel is the index of the local holding the fuel while the function
// runs; scratchLocal the i32 local of chargeLength.
func (f *fn) fuel() uint32         { return f.locals }
func (f *fn) scratchLocal() uint32 { return f.locals + 1 }

// load copies the fuel global into the function's fuel local: at entry and
// after every call, which may have used fuel.
func (f *fn) load(b []byte) []byte {
	b = append(b, 0x23)
	b = wasmbin.AppendU32(b, f.m.fuel)
	b = append(b, 0x21)
	return wasmbin.AppendU32(b, f.fuel())
}

// store copies the fuel local back to the global: before every call and at
// the exit.
func (f *fn) store(b []byte) []byte {
	b = append(b, 0x20)
	b = wasmbin.AppendU32(b, f.fuel())
	b = append(b, 0x24)
	return wasmbin.AppendU32(b, f.m.fuel)
}

// charge lowers the fuel by cost and refills when it went below zero.
func (f *fn) charge(b []byte, cost int64) []byte {
	b = append(b, 0x20)
	b = wasmbin.AppendU32(b, f.fuel())
	b = append(b, 0x42)
	b = appendS64(b, cost)
	b = append(b, 0x7d) // i64.sub
	return f.check(b)
}

// chargeLength charges the i32 length on top of the stack, shifted right
// by shift, and leaves it there.
func (f *fn) chargeLength(b []byte, shift byte) []byte {
	b = append(b, 0x21) // local.set scratch
	b = wasmbin.AppendU32(b, f.scratchLocal())
	b = append(b, 0x20)
	b = wasmbin.AppendU32(b, f.fuel())
	b = append(b, 0x20)
	b = wasmbin.AppendU32(b, f.scratchLocal())
	b = append(b, 0xad, 0x42, shift, 0x88, 0x7d) // i64.extend_i32_u, i64.const, i64.shr_u, i64.sub
	b = f.check(b)
	b = append(b, 0x20)
	return wasmbin.AppendU32(b, f.scratchLocal())
}

// check stores the fuel on the stack in the fuel local and calls refill
// when it is below zero.
func (f *fn) check(b []byte) []byte {
	b = append(b, 0x22) // local.tee
	b = wasmbin.AppendU32(b, f.fuel())
	b = append(b, 0x42, 0x00, 0x53, 0x04, 0x40, 0x20) // i64.const 0, i64.lt_s, if, local.get
	b = wasmbin.AppendU32(b, f.fuel())
	b = append(b, 0x10)
	b = wasmbin.AppendU32(b, f.m.refill)
	b = append(b, 0x21)
	b = wasmbin.AppendU32(b, f.fuel())
	return append(b, 0x0b)
}
