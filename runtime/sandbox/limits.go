package sandbox

import (
	"fmt"

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

// baseLimits returns the engine defaults: cfg.Defaults filled from the
// built-in defaults and lowered to cfg.Max where that is set.
func baseLimits(defaults, max host.Limits) host.Limits {
	out := defaults
	for _, f := range limitFields {
		v := f.get(&out)
		if *v == 0 {
			*v = *f.get(&builtinDefaults)
		}
		if m := *f.get(&max); m != 0 && *v > m {
			*v = m
		}
	}
	if out.MemoryPages > host.MaxMemoryPages {
		out.MemoryPages = host.MaxMemoryPages
	}
	return out
}

// appLimits merges a manifest's limits over base and reports the fields
// asking for more than max.
func appLimits(asked, base, max host.Limits) (host.Limits, []Violation) {
	out := base
	var vs []Violation
	for _, f := range limitFields {
		a := *f.get(&asked)
		if a == 0 {
			continue
		}
		if m := *f.get(&max); m != 0 && a > m {
			vs = append(vs, Violation{
				Rule:    "limits.max",
				Where:   "manifest limits." + f.name,
				Problem: fmt.Sprintf("asks for %d, this platform allows at most %d", a, m),
				Fix:     fmt.Sprintf("set limits.%s in manifest.json to %d or less, or leave it out to get the default %d", f.name, m, *f.get(&base)),
			})
			continue
		}
		*f.get(&out) = a
	}
	return out, vs
}
