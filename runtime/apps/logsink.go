package apps

import (
	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/runtime/registry"
	"github.com/passerelle/passerelle/runtime/sandbox"
)

// LogSink forwards the engine's app log lines to the registry's per-app
// log. Give it to sandbox.Config.AppLog. Failure records are left out: the
// Router logs each failure itself, with the event type and failure kind.
type LogSink struct{ Registry *registry.Registry }

// AppLog implements sandbox.AppLogger.
func (s LogSink) AppLog(ref host.AppRef, rec sandbox.LogRecord) {
	if rec.Source == "failure" {
		return
	}
	s.Registry.AppendLog(ref, registry.LogRecord{Time: rec.Time, Level: rec.Level.String(),
		Source: rec.Source, Message: rec.Message, EventID: rec.EventID})
}
