package sandbox

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"time"

	"github.com/passerelle/passerelle/host"
)

// AppLogger receives what an app writes and how its events fail. The
// runtime calls it from the goroutine that dispatches the event; it must not
// call back into the runtime.
type AppLogger interface {
	AppLog(ref host.AppRef, rec LogRecord)
}

// LogRecord is one line of an app's log.
type LogRecord struct {
	Time    time.Time
	Level   slog.Level
	Source  string // "log", "stdout", "stderr", "host", "failure"
	Message string
	EventID string
}

func (a *App) emitLog(level slog.Level, source, msg, eventID string) {
	a.emitLogAt(time.Now(), level, source, msg, eventID)
}

func (a *App) emitLogAt(at time.Time, level slog.Level, source, msg, eventID string) {
	rec := LogRecord{Time: at, Level: level, Source: source, Message: msg, EventID: eventID}
	if l := a.engine.cfg.AppLog; l != nil {
		l.AppLog(a.ref, rec)
		return
	}
	a.log.Log(a.engine.baseCtx, level, msg, "source", source, "event", eventID)
}

// guestLog sends a line the guest wrote during an event to the app log.
// Within an event's transaction (Event.Tx) the line waits for the end of
// the event (keepLogs).
func (inst *instance) guestLog(level slog.Level, source, msg, eventID string) {
	if ev := inst.ev; ev != nil && ev.Tx != nil {
		inst.logs = append(inst.logs, LogRecord{Time: time.Now(), Level: level, Source: source, Message: msg, EventID: eventID})
		return
	}
	inst.app.emitLog(level, source, msg, eventID)
}

// keepLogs hands on the lines the guest wrote during an event run in a
// transaction: an event that succeeded keeps them with its effects (they
// reach the log once it commits, and are dropped with a run that must run
// again); a failed event's lines, which say why it failed, go to the log
// now, although its effects are dropped.
func (inst *instance) keepLogs(tx *host.Tx, ok bool) {
	if len(inst.logs) == 0 {
		return
	}
	recs, a := inst.logs, inst.app
	inst.logs = nil
	emit := func() {
		for _, r := range recs {
			a.emitLogAt(r.Time, r.Level, r.Source, r.Message, r.EventID)
		}
	}
	if ok && tx != nil {
		tx.Stage(host.Effect{Committed: emit})
		return
	}
	emit()
}

// stream captures a guest's stdout or stderr. Bytes written during an event
// count against the event's log limit; bytes written while the instance
// starts are kept up to the log limit and the rest dropped. Lines are sent
// to the app log when the event ends.
type stream struct {
	inst   *instance
	source string
	level  slog.Level
	buf    []byte
}

func (s *stream) Write(p []byte) (int, error) {
	inst := s.inst
	if inst.ev != nil {
		inst.chargeLog(uint64(len(p))) // panics past the limit: the event is aborted
		s.buf = append(s.buf, p...)
		return len(p), nil
	}
	room := int(inst.app.limits.LogBytes) - len(s.buf)
	if room > len(p) {
		room = len(p)
	}
	if room > 0 {
		s.buf = append(s.buf, p[:room]...)
	}
	return len(p), nil
}

// flush sends the buffered lines to the app log.
func (s *stream) flush(eventID string) {
	if len(s.buf) == 0 {
		return
	}
	for _, line := range bytes.Split(bytes.TrimRight(s.buf, "\n"), []byte("\n")) {
		s.inst.guestLog(s.level, s.source, string(bytes.ToValidUTF8(line, []byte("\uFFFD"))), eventID)
	}
	s.buf = s.buf[:0]
}

// hostLogHandler is the handler of host.Call.Log: what a host function
// says about one of the app's calls (a business message the consent rules
// refused, with its code) goes to the app's log with source "host" and the
// event's id, where the merchant reads it (passerelle app logs), and to
// the engine's logger as before. Its attributes are written into the line
// as key=value.
type hostLogHandler struct {
	inst  *instance
	attrs []slog.Attr
}

func (h *hostLogHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return level >= slog.LevelInfo || h.inst.app.log.Enabled(ctx, level)
}

func (h *hostLogHandler) Handle(ctx context.Context, r slog.Record) error {
	a := h.inst.app
	var b strings.Builder
	b.WriteString(r.Message)
	write := func(at slog.Attr) bool {
		b.WriteString(" ")
		b.WriteString(at.Key)
		b.WriteString("=")
		b.WriteString(at.Value.String())
		return true
	}
	for _, at := range h.attrs {
		write(at)
	}
	r.Attrs(write)
	eventID := h.inst.call.Caller.EventID
	if l := a.engine.cfg.AppLog; l != nil && r.Level >= slog.LevelInfo {
		l.AppLog(a.ref, LogRecord{Time: r.Time, Level: r.Level, Source: "host", Message: b.String(), EventID: eventID})
	}
	if a.log.Enabled(ctx, r.Level) {
		a.log.Log(ctx, r.Level, b.String(), "source", "host", "event", eventID)
	}
	return nil
}

func (h *hostLogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &hostLogHandler{inst: h.inst, attrs: append(append([]slog.Attr(nil), h.attrs...), attrs...)}
}

func (h *hostLogHandler) WithGroup(string) slog.Handler { return h }
