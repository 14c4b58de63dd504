package sandbox

import (
	"fmt"
	"strings"

	"github.com/passerelle/passerelle/host"
)

// builtinDefaults are the limits used where neither Config.Defaults nor a
// manifest says anything.
var builtinDefaults = host.Limits{
	MemoryPages:       1024, // 64 MiB
	EventTimeoutMS:    1000,
	HostCallsPerEvent: 1000,
	CallBytes:         256 << 10,
	EventBytes:        4 << 20,
	LogBytes:          64 << 10,
	EventFuelMillions: 20000, // 2·10¹⁰ units: above what the default deadline allows
}

// BuiltinDefaults returns the limits used where neither Config.Defaults nor
// a manifest sets a value.
func BuiltinDefaults() host.Limits { return builtinDefaults }

type limitField struct {
	name string
	get  func(*host.Limits) *uint32
}

var limitFields = []limitField{
	{"memory_pages", func(l *host.Limits) *uint32 { return &l.MemoryPages }},
	{"event_timeout_ms", func(l *host.Limits) *uint32 { return &l.EventTimeoutMS }},
	{"host_calls_per_event", func(l *host.Limits) *uint32 { return &l.HostCallsPerEvent }},
	{"call_bytes", func(l *host.Limits) *uint32 { return &l.CallBytes }},
	{"event_bytes", func(l *host.Limits) *uint32 { return &l.EventBytes }},
	{"log_bytes", func(l *host.Limits) *uint32 { return &l.LogBytes }},
	{"event_fuel_millions", func(l *host.Limits) *uint32 { return &l.EventFuelMillions }},
}

// builtinMax are the ceilings used where Config.Max says nothing: a
// manifest may lower any limit but raise it only this far, so that no
// configuration left at its defaults lets one app take the memory or the
// time of a server. Every limit has one.
var builtinMax = host.Limits{
	MemoryPages:       4096, // 256 MiB
	EventTimeoutMS:    10_000,
	HostCallsPerEvent: 10_000,
	CallBytes:         1 << 20,
	EventBytes:        16 << 20,
	LogBytes:          1 << 20,
	EventFuelMillions: 200_000, // 2·10¹¹ units: beyond what the 10 s deadline ceiling allows
}

// BuiltinMax returns the ceilings used where Config.Max does not set one.
func BuiltinMax() host.Limits { return builtinMax }

// ceilings returns the ceiling of every limit: max where set, else the
// built-in ceiling raised to the operator's default when that is higher (an
// operator who sets a default allows it).
func ceilings(defaults, max host.Limits) host.Limits {
	out := max
	for _, f := range limitFields {
		v := f.get(&out)
		if *v != 0 {
			continue
		}
		*v = *f.get(&builtinMax)
		if d := *f.get(&defaults); d > *v {
			*v = d
		}
	}
	if out.MemoryPages > host.MaxMemoryPages {
		out.MemoryPages = host.MaxMemoryPages
	}
	return out
}

// baseLimits returns the engine defaults: cfg.Defaults filled from the
// built-in defaults and lowered to the ceilings of cfg.Max.
func baseLimits(defaults, max host.Limits) host.Limits {
	ceil := ceilings(defaults, max)
	out := defaults
	for _, f := range limitFields {
		v := f.get(&out)
		if *v == 0 {
			*v = *f.get(&builtinDefaults)
		}
		if m := *f.get(&ceil); *v > m {
			*v = m
		}
	}
	return out
}

// appLimits merges a manifest's limits over base and reports the fields
// asking for more than their ceiling. operatorMax is Config.Max, which says
// whether a ceiling is the operator's or built in.
func appLimits(asked, base, ceil, operatorMax host.Limits) (host.Limits, []Violation) {
	out := base
	var vs []Violation
	for _, f := range limitFields {
		a := *f.get(&asked)
		if a == 0 {
			continue
		}
		if m := *f.get(&ceil); a > m {
			whose := "this server's ceiling"
			if *f.get(&operatorMax) == 0 {
				whose = "the built-in ceiling"
			}
			unit := unitOf(f.name)
			vs = append(vs, Violation{
				Rule:  "limits.max",
				Where: "manifest limits." + f.name,
				Problem: fmt.Sprintf("asks for %d%s; %s max_limits.%s is %d%s",
					a, unit, whose, f.name, m, unit),
				Fix: fmt.Sprintf("set limits.%s in manifest.json to %d or less, or leave it out to get the default %d%s; "+
					"only the operator can raise the ceiling (max_limits.%s in the server configuration)",
					f.name, m, *f.get(&base), unit, f.name),
			})
			continue
		}
		*f.get(&out) = a
	}
	return out, vs
}

// unitOf returns the unit of a limit from its name ("memory_pages" →
// " pages"), for messages.
func unitOf(name string) string {
	for _, u := range []string{"pages", "ms", "bytes"} {
		if strings.HasSuffix(name, "_"+u) {
			return " " + u
		}
	}
	if strings.HasPrefix(name, "host_calls") {
		return " calls"
	}
	return ""
}
