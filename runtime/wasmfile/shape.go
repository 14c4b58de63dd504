package wasmfile

// Shape is what a module declares, read from its section headers and the
// headers of its function bodies without decoding any code. Reading it
// costs time proportional to the number of sections and functions and
// allocates nothing per entry, so a platform can refuse a module whose
// compilation would cost too much before compiling it.
//
// Counts are those the sections declare; a module whose sections hold
// other counts is invalid and fails to compile anyway.
type Shape struct {
	Types        uint32 // function types
	Imports      uint32 // imports of every kind
	Functions    uint32 // functions the module defines (imports excluded)
	Tables       uint32 // tables the module defines
	Memories     uint32 // memories the module defines
	Globals      uint32 // globals the module defines
	Exports      uint32
	Elements     uint32 // element segments
	DataSegments uint32

	// TableElements adds up the tables the module defines, each counted at
	// its declared maximum, else its initial size (64-bit tables count 0).
	TableElements uint64

	CodeBytes    int    // size of the code section
	LargestBody  int    // size of the largest function body
	Locals       uint64 // locals all functions declare together (parameters excluded)
	MostLocals   uint64 // most locals one function declares
	DataBytes    int    // size of the data section
	Customs      int    // custom sections
	CustomBytes  int    // their sizes together
	MostLocalsAt uint32 // index among defined functions of the one with MostLocals
}

// Section ids of the binary format.
const (
	secCustom   = 0
	secType     = 1
	secImport   = 2
	secFunction = 3
	secTable    = 4
	secMemory   = 5
	secGlobal   = 6
	secExport   = 7
	secElement  = 9
	secCode     = 10
	secData     = 11
)

// ReadShape returns the shape of wasm. Errors wrap ErrNotWasm or
// ErrMalformed.
func ReadShape(wasm []byte) (Shape, error) {
	secs, err := sections(wasm)
	if err != nil {
		return Shape{}, err
	}
	var sh Shape
	for _, s := range secs {
		if s.id == secCustom {
			sh.Customs++
			sh.CustomBytes += s.end - s.start
			continue
		}
		r := reader{b: wasm[s.payload:s.end], base: s.payload, what: sectionName(s.id)}
		switch s.id {
		case secType:
			sh.Types += r.u32()
		case secImport:
			sh.Imports += r.u32()
		case secFunction:
			sh.Functions += r.u32()
		case secTable:
			n := r.u32()
			sh.Tables += n
			for i := uint32(0); i < n && r.err == nil; i++ {
				r.refType()
				initial, most, hasMax := r.limitValues()
				if !hasMax {
					most = initial
				}
				sh.TableElements += uint64(max(initial, most))
			}
		case secMemory:
			sh.Memories += r.u32()
		case secGlobal:
			sh.Globals += r.u32()
		case secExport:
			sh.Exports += r.u32()
		case secElement:
			sh.Elements += r.u32()
		case secCode:
			sh.CodeBytes += s.end - s.payload
			r.bodies(&sh)
		case secData:
			sh.DataSegments += r.u32()
			sh.DataBytes += s.end - s.payload
		}
		if r.err != nil {
			return sh, r.err
		}
	}
	return sh, nil
}

// bodies walks the function bodies of a code section, reading only each
// body's size and local declarations.
func (r *reader) bodies(sh *Shape) {
	n := r.u32()
	for i := uint32(0); i < n && r.err == nil; i++ {
		size := r.u32()
		if r.err != nil {
			return
		}
		if uint64(size) > uint64(len(r.b)-r.off) {
			r.fail("function body %d of %d bytes runs past the section", i, size)
			return
		}
		end := r.off + int(size)
		sh.LargestBody = max(sh.LargestBody, int(size))
		body := reader{b: r.b[:end], off: r.off, base: r.base, what: r.what}
		var locals uint64
		groups := body.u32()
		for g := uint32(0); g < groups && body.err == nil; g++ {
			locals += uint64(body.u32())
			body.valType()
		}
		if body.err != nil {
			r.err = body.err
			return
		}
		sh.Locals += locals
		if locals > sh.MostLocals {
			sh.MostLocals, sh.MostLocalsAt = locals, i
		}
		r.off = end
	}
}

func sectionName(id byte) string {
	names := [...]string{"custom", "type", "import", "function", "table", "memory", "global",
		"export", "start", "element", "code", "data", "data count", "tag"}
	if int(id) < len(names) {
		return names[id] + " section"
	}
	return "section"
}
