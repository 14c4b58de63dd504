package sandbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/runtime/assets"
	"github.com/passerelle/passerelle/runtime/meter"
	"github.com/passerelle/passerelle/runtime/sandbox/report"
	"github.com/passerelle/passerelle/runtime/wasmfile"
)

// Report is what Check found in a module (package report: wazero-free).
type Report = report.Report

// Violation is one broken rule; report.Violation lists the rule ids.
type Violation = report.Violation

// Check validates a module against ABI v1 and its manifest without running
// it. Problems with the module are reported in the Report, not as an error.
func (e *Engine) Check(ctx context.Context, wasm []byte) (*Report, error) {
	if e.isClosed.Load() {
		return nil, ErrClosed
	}
	rep, cm, _, _ := e.inspect(ctx, wasm)
	if cm != nil {
		_ = cm.Close(ctx)
	}
	return rep, nil
}

const buildFix = "build with `passerelle app build`"

// inspect checks wasm and returns the report, the metered module and its
// compilation in the check runtime (nil when it did not compile) and the
// app's effective limits.
func (e *Engine) inspect(ctx context.Context, wasm []byte) (*Report, wazero.CompiledModule, []byte, host.Limits) {
	rep := &Report{}
	add := func(rule, where, problem, fix string) {
		rep.Violations = append(rep.Violations, Violation{Rule: rule, Where: where, Problem: problem, Fix: fix})
	}
	limits := e.base
	if len(wasm) == 0 {
		add("module.empty", "file", "the file is empty (0 bytes)",
			"upload the .wasm file your compiler produced; "+buildFix)
		return rep, nil, nil, limits
	}
	if !bytes.HasPrefix(wasm, []byte("\x00asm\x01\x00\x00\x00")) {
		add("module.invalid", "file", "the file is not a WebAssembly module (it does not start with \\0asm version 1)",
			"upload the .wasm file, not source code or an archive; "+buildFix)
		return rep, nil, nil, limits
	}

	m, err := wasmfile.ReadManifest(wasm)
	switch {
	case err == nil:
		rep.Manifest = m
		var vs []Violation
		limits, vs = appLimits(m.Limits, e.base, ceilings(e.cfg.Defaults, e.cfg.Max), e.cfg.Max)
		rep.Violations = append(rep.Violations, vs...)
	case errors.Is(err, wasmfile.ErrNoManifest):
		add("manifest.missing", `custom section "passerelle.manifest"`, "the module carries no manifest",
			"write a manifest.json next to your app and "+buildFix+", which embeds it")
	case errors.Is(err, wasmfile.ErrMalformed):
		add("module.invalid", "file", err.Error(), "the file is damaged; rebuild it and upload it again")
		return rep, nil, nil, limits
	default:
		for _, one := range splitJoined(err) {
			add("manifest.invalid", `custom section "passerelle.manifest"`, strings.TrimPrefix(one.Error(), host.ErrInvalidManifest.Error()+": "),
				"fix manifest.json and "+buildFix)
		}
	}

	if _, err := assets.FromModule(wasm); err != nil {
		add("assets.invalid", `custom section "`+assets.SectionName+`"`, err.Error(),
			"fix the files in the app's assets/ folder (PNG, JPEG or WebP; see sdk/ABI.md#assets) and "+buildFix)
	}

	// Bound the cost of compiling before compiling: a module over a limit
	// is refused on its section headers.
	shape, err := wasmfile.ReadShape(wasm)
	if err != nil {
		add("module.invalid", "file", err.Error(), "the file is damaged; rebuild it and upload it again")
		return rep, nil, nil, limits
	}
	if !checkShape(shape, limits, add) {
		return rep, nil, nil, limits
	}

	metered := e.instrument(ctx, wasm, add)
	if metered == nil {
		return rep, nil, nil, limits
	}
	cm, err := e.checkRT.CompileModule(ctx, metered)
	if err != nil {
		err = e.compileError(ctx, wasm, err)
		add("module.invalid", "module", "the module does not compile: "+err.Error(),
			"rebuild it with a compiler that targets WebAssembly 2.0 (e.g. GOOS=wasip1 GOARCH=wasm)")
		return rep, nil, nil, limits
	}
	e.checkImports(rep, cm, add)
	checkOtherImports(wasm, add)
	checkExports(rep, cm, limits, add)
	return rep, cm, metered, limits
}

// ModuleLimit is one bound on what a module may declare, checked on its
// section headers before it is compiled (sdk/ABI.md, Module limits), so
// that checking or uploading a module costs bounded CPU and memory.
type ModuleLimit struct {
	Name string // as in ABI.md, e.g. "exports"
	Max  uint64
}

type moduleLimit struct {
	ModuleLimit
	where string // the section
	unit  string
	got   func(*wasmfile.Shape) uint64
	fix   string
}

const (
	fixSmaller = "make the module smaller: drop unused code (-ldflags=-s -w, -Wl,--gc-sections, wasm-opt), or split the app in two"
	fixStrip   = "strip custom sections (debug information) with wasm-strip or your linker's --strip-debug"
)

// moduleLimits are far above what the example Go apps declare (about 2,300
// functions, 40,000 data segments, 2.3 MB of code, 20 locals in their
// largest function) and far below what wazero accepts.
var moduleLimits = []moduleLimit{
	{ModuleLimit{"types", 10_000}, "type section", "function types", func(s *wasmfile.Shape) uint64 { return uint64(s.Types) }, fixSmaller},
	{ModuleLimit{"imports", 1_000}, "import section", "imports", func(s *wasmfile.Shape) uint64 { return uint64(s.Imports) },
		"import each host function once; only " + HostModule + " and the WASI functions of sdk/ABI.md are offered"},
	{ModuleLimit{"functions", 50_000}, "function section", "functions", func(s *wasmfile.Shape) uint64 { return uint64(s.Functions) }, fixSmaller},
	{ModuleLimit{"tables", 16}, "table section", "tables", func(s *wasmfile.Shape) uint64 { return uint64(s.Tables) }, fixSmaller},
	{ModuleLimit{"table_elements", 200_000}, "table section", "table elements", func(s *wasmfile.Shape) uint64 { return s.TableElements },
		"declare smaller tables (initial size and maximum); " + fixSmaller},
	{ModuleLimit{"memories", 1}, "memory section", "memories", func(s *wasmfile.Shape) uint64 { return uint64(s.Memories) },
		"define one memory and export it as \"memory\""},
	{ModuleLimit{"globals", 10_000}, "global section", "globals", func(s *wasmfile.Shape) uint64 { return uint64(s.Globals) }, fixSmaller},
	{ModuleLimit{"exports", 1_000}, "export section", "exports", func(s *wasmfile.Shape) uint64 { return uint64(s.Exports) },
		"export only what sdk/ABI.md names (memory, " + ExportOnEvent + ", _initialize); drop --export-all and //export of other functions"},
	{ModuleLimit{"element_segments", 10_000}, "element section", "element segments", func(s *wasmfile.Shape) uint64 { return uint64(s.Elements) }, fixSmaller},
	{ModuleLimit{"data_segments", 200_000}, "data section", "data segments", func(s *wasmfile.Shape) uint64 { return uint64(s.DataSegments) }, fixSmaller},
	{ModuleLimit{"code_bytes", 16 << 20}, "code section", "bytes of code", func(s *wasmfile.Shape) uint64 { return uint64(s.CodeBytes) }, fixSmaller},
	{ModuleLimit{"function_bytes", 1 << 20}, "code section", "bytes in one function body", func(s *wasmfile.Shape) uint64 { return uint64(s.LargestBody) },
		"split the largest function (generated tables or switches are the usual cause)"},
	{ModuleLimit{"function_locals", 50_000}, "code section", "locals in one function", func(s *wasmfile.Shape) uint64 { return s.MostLocals },
		"declare fewer locals in that function, or split it"},
	{ModuleLimit{"locals", 1_000_000}, "code section", "locals in all functions together", func(s *wasmfile.Shape) uint64 { return s.Locals },
		"declare fewer locals; " + fixSmaller},
	{ModuleLimit{"custom_sections", 100}, "custom sections", "custom sections", func(s *wasmfile.Shape) uint64 { return uint64(s.Customs) }, fixStrip},
}

// ModuleLimits returns the limits on what a module may declare.
func ModuleLimits() []ModuleLimit {
	out := make([]ModuleLimit, len(moduleLimits))
	for i, l := range moduleLimits {
		out[i] = l.ModuleLimit
	}
	return out
}

// checkShape reports every module limit sh exceeds, and data that cannot
// fit the app's memory. It returns whether the module may be compiled.
func checkShape(sh wasmfile.Shape, limits host.Limits, add func(rule, where, problem, fix string)) bool {
	ok := true
	for _, l := range moduleLimits {
		if got := l.got(&sh); got > l.Max {
			ok = false
			add("module.limit", l.where, fmt.Sprintf("declares %d %s; a module may declare at most %d (limit %s)", got, l.unit, l.Max, l.Name), l.fix)
		}
	}
	if mem := uint64(limits.MemoryPages) * 65536; uint64(sh.DataBytes) > mem {
		ok = false
		add("module.limit", "data section", fmt.Sprintf("holds %d bytes of data, more than the app's memory limit of %d bytes (%d pages)", sh.DataBytes, mem, limits.MemoryPages),
			"keep less data in the module (load it through the storage operations), or raise limits.memory_pages in manifest.json")
	}
	return ok
}

func splitJoined(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

func (e *Engine) checkImports(rep *Report, cm wazero.CompiledModule, add func(rule, where, problem, fix string)) {
	for _, def := range cm.ImportedFunctions() {
		mod, name, _ := def.Import()
		if mod == meter.Module { // added by instrument
			continue
		}
		rep.Imports = append(rep.Imports, mod+"."+name)
		where := fmt.Sprintf("import %q.%q", mod, name)
		params, results := def.ParamTypes(), def.ResultTypes()
		switch mod {
		case HostModule:
			var want *hostImport
			for i := range e.imports {
				if e.imports[i].name == name {
					want = &e.imports[i]
				}
			}
			if want == nil {
				add("import.unknown", where, "this host does not offer the operation "+name,
					"remove the call, or use one of: "+strings.Join(e.importNames(), ", "))
				continue
			}
			if !want.sig().equal(params, results) {
				add("import.signature", where, "imported as "+sigString(params, results)+", the ABI defines "+want.sig().String(),
					"declare it with the signature of sdk/ABI.md, or use the Passerelle SDK")
				continue
			}
			if want.perm != host.PermNone && (rep.Manifest == nil || !hasPerm(rep.Manifest.Permissions, want.perm)) {
				add("import.permission", where, fmt.Sprintf("uses %s, which needs the %q permission the manifest does not grant", name, want.perm),
					fmt.Sprintf("add %q to \"permissions\" in manifest.json, or stop using %s", want.perm, name))
			}
		case "wasi_snapshot_preview1":
			sig, ok := e.wasiSigs[name]
			if !ok {
				add("import.unknown", where, "not a WASI preview 1 function", "remove the import; only wasi_snapshot_preview1 functions are offered")
				continue
			}
			if _, ok := wasiAllowed[name]; !ok {
				add("import.wasi", where, name+" is a WASI preview 1 function this host does not offer: "+wasiRefusal(name),
					"remove what calls it (a library reaching for files or sockets, e.g. os.Open, time.LoadLocation, net); "+
						"sdk/ABI.md (WASI) lists the functions offered; keep data with the storage operations")
				continue
			}
			if !sig.equal(params, results) {
				add("import.signature", where, "imported as "+sigString(params, results)+", WASI defines "+sig.String(),
					"use a WASI preview 1 toolchain (GOOS=wasip1)")
			}
		default:
			add("import.unknown", where, fmt.Sprintf("the module %q is not offered; only %s and wasi_snapshot_preview1 are", mod, HostModule),
				"remove the import (e.g. a //go:wasmimport or extern declaration); call host operations through "+HostModule)
		}
	}
}

// wasiAllowed are the wasi_snapshot_preview1 functions a module may import,
// with what each does here (sdk/ABI.md, WASI, lists the same). They let
// language runtimes start and print; none reaches a file, a socket or the
// host's environment.
var wasiAllowed = map[string]string{
	"args_get":            "no arguments",
	"args_sizes_get":      "no arguments",
	"environ_get":         "no environment variables",
	"environ_sizes_get":   "no environment variables",
	"clock_res_get":       "the host's clocks",
	"clock_time_get":      "the host's clocks",
	"random_get":          "the host's random source",
	"fd_write":            "stdout (1) and stderr (2) go to the app log; other descriptors fail",
	"fd_read":             "stdin (0) is empty; other descriptors fail",
	"fd_seek":             "fails on stdin, stdout and stderr",
	"fd_close":            "stdin, stdout and stderr",
	"fd_fdstat_get":       "stdin, stdout and stderr",
	"fd_fdstat_set_flags": "stdin, stdout and stderr",
	"fd_filestat_get":     "stdin, stdout and stderr",
	"fd_prestat_get":      "no preopened directories (fails with EBADF)",
	"fd_prestat_dir_name": "no preopened directories (fails with EBADF)",
	"proc_exit":           "ends the event as a trap and discards the instance",
	"sched_yield":         "returns at once",
	"poll_oneoff":         "waits on clocks, never past the event's deadline",
}

// WASIFunctions returns the wasi_snapshot_preview1 functions a module may
// import, sorted.
func WASIFunctions() []string {
	names := make([]string, 0, len(wasiAllowed))
	for name := range wasiAllowed {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// wasiRefusal says why a WASI function is not offered.
func wasiRefusal(name string) string {
	switch {
	case strings.HasPrefix(name, "path_"):
		return "modules have no filesystem"
	case strings.HasPrefix(name, "sock_"):
		return "modules have no network"
	case strings.HasPrefix(name, "fd_"):
		return "modules have no files, only stdin, stdout and stderr"
	}
	return "it gives a module nothing it may use"
}

// checkOtherImports reports imports of memories, tables, globals and tags:
// the host offers only functions.
func checkOtherImports(wasm []byte, add func(rule, where, problem, fix string)) {
	imps, _ := wasmfile.Imports(wasm) // the module compiled, so the section parses
	for _, imp := range imps {
		if imp.Kind == wasmfile.KindFunc {
			continue
		}
		fix := "define the " + imp.KindName() + " inside the module instead of importing it"
		if imp.Kind == wasmfile.KindMemory {
			fix = "export the module's own memory instead (drop --import-memory)"
		}
		add("import.unknown", fmt.Sprintf("import %q.%q", imp.Module, imp.Name),
			"the module imports a "+imp.KindName()+"; the host offers only functions", fix)
	}
}

func (e *Engine) importNames() []string {
	names := make([]string, len(e.imports))
	for i, imp := range e.imports {
		names[i] = imp.name
	}
	sort.Strings(names)
	return names
}

func hasPerm(ps []host.Permission, p host.Permission) bool {
	for _, q := range ps {
		if q == p {
			return true
		}
	}
	return false
}

func checkExports(rep *Report, cm wazero.CompiledModule, limits host.Limits, add func(rule, where, problem, fix string)) {
	funcs := cm.ExportedFunctions()
	mems := cm.ExportedMemories()
	for name := range funcs {
		rep.Exports = append(rep.Exports, name)
	}
	for name := range mems {
		rep.Exports = append(rep.Exports, name)
	}
	sort.Strings(rep.Exports)

	if _, ok := mems[ExportMemory]; !ok {
		add("export.memory", `export "memory"`, "the module does not export its memory as \"memory\"",
			"export the linear memory as \"memory\" (Go, Rust and TinyGo do by default for wasip1)")
	}
	for name, def := range mems {
		where := fmt.Sprintf("memory %q", name)
		if def.Min() > limits.MemoryPages {
			add("memory.limit", where, fmt.Sprintf("starts with %d pages, the limit is %d pages", def.Min(), limits.MemoryPages),
				"start with less memory, or raise limits.memory_pages in manifest.json within what the platform allows")
		}
		if max, ok := def.Max(); ok && max > limits.MemoryPages {
			add("memory.limit", where, fmt.Sprintf("declares a maximum of %d pages, the limit is %d pages", max, limits.MemoryPages),
				"lower the declared maximum (e.g. -Wl,--max-memory) or raise limits.memory_pages in manifest.json")
		}
	}
	if def, ok := funcs[ExportOnEvent]; !ok {
		add("export.on_event", `export "`+ExportOnEvent+`"`, "the module does not export the event handler",
			"add `//go:wasmexport "+ExportOnEvent+"` to a func(uint32) uint32, or "+buildFix)
	} else if !(signature{[]api.ValueType{i32}, []api.ValueType{i32}}).equal(def.ParamTypes(), def.ResultTypes()) {
		add("export.signature", `export "`+ExportOnEvent+`"`, "has signature "+sigString(def.ParamTypes(), def.ResultTypes())+", want (i32) -> (i32)",
			"make the handler take the event length (uint32) and return a status (uint32)")
	}
	if _, ok := funcs[ExportStart]; ok {
		add("export.start", `export "_start"`, "the module is a command (it exports _start); the host runs reactors",
			"build a reactor: for Go use -buildmode=c-shared; for Rust/C use -mexec-model=reactor")
	}
	if def, ok := funcs[ExportInitialize]; ok && (len(def.ParamTypes()) != 0 || len(def.ResultTypes()) != 0) {
		add("export.signature", `export "_initialize"`, "has signature "+sigString(def.ParamTypes(), def.ResultTypes())+", want () -> ()",
			"_initialize takes no arguments and returns nothing; let the toolchain generate it")
	}
}
