package registry

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/host"
)

// maxMessage bounds one log record's message; longer ones are cut.
const maxMessage = 4096

// LogRecord is one line of an app's log: a guest log line, guest
// stdout/stderr output, or a failure (trap, limit hit, ABI violation, guest
// error) with the event that caused it. It never carries a platform person id.
type LogRecord struct {
	Seq     uint64    `json:"seq"` // per app, increasing; 0 until appended
	Time    time.Time `json:"time"`
	Version string    `json:"version,omitempty"`
	Level   string    `json:"level"`  // DEBUG, INFO, WARN, ERROR
	Source  string    `json:"source"` // log, stdout, stderr, failure
	Message string    `json:"message"`
	EventID string    `json:"event_id,omitempty"`
	Event   string    `json:"event,omitempty"` // event type, for failures
	Kind    string    `json:"kind,omitempty"`  // failure kind: deadline, memory, host_calls, trap, abi, guest...
}

// ring is the bounded log of one app.
type ring struct {
	recs   []LogRecord // oldest first, at most cap
	next   uint64      // seq of the next record
	notify chan struct{}
	dirty  bool
}

// AppendLog adds rec to the log of ref.App, dropping the oldest record when
// the ring is full, and wakes followers. Seq is assigned here; Time defaults
// to now and Version to ref.Version.
func (r *Registry) AppendLog(ref host.AppRef, rec LogRecord) {
	if rec.Time.IsZero() {
		rec.Time = r.opts.Now()
	}
	rec.Time = rec.Time.UTC()
	if rec.Version == "" {
		rec.Version = ref.Version
	}
	if rec.Level == "" {
		rec.Level = slog.LevelInfo.String()
	}
	if len(rec.Message) > maxMessage {
		rec.Message = strings.ToValidUTF8(rec.Message[:maxMessage], "") + "…(cut)"
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	g := r.ringLocked(ref.App)
	rec.Seq = g.next
	g.next++
	if len(g.recs) >= r.opts.LogRing {
		g.recs = append(g.recs[:0:0], g.recs[len(g.recs)-r.opts.LogRing+1:]...)
	}
	g.recs = append(g.recs, rec)
	g.dirty = true
	close(g.notify)
	g.notify = make(chan struct{})
}

func (r *Registry) ringLocked(app string) *ring {
	g := r.logs[app]
	if g == nil {
		g = &ring{next: 1, notify: make(chan struct{})}
		r.logs[app] = g
	}
	return g
}

// Logs returns up to limit records of app with Seq > after, oldest first
// (limit <= 0: all kept), and a channel closed when a newer record arrives,
// for followers.
func (r *Registry) Logs(app string, after uint64, limit int) ([]LogRecord, <-chan struct{}) {
	r.mu.Lock()
	defer r.mu.Unlock()
	g := r.ringLocked(app)
	var out []LogRecord
	for _, rec := range g.recs {
		if rec.Seq > after {
			out = append(out, rec)
		}
	}
	if limit > 0 && len(out) > limit {
		out = out[len(out)-limit:]
	}
	return out, g.notify
}

func (r *Registry) snapshotLogsLocked(out map[string][]byte) error {
	for app, g := range r.logs {
		if !g.dirty {
			continue
		}
		data, err := json.Marshal(g.recs)
		if err != nil {
			return fmt.Errorf("registry: encode logs of %q: %w", app, err)
		}
		out[app] = data
		g.dirty = false
	}
	return nil
}

func (r *Registry) loadLogs(tx *bbolt.Tx) error {
	return tx.Bucket(bucketLogs).ForEach(func(k, v []byte) error {
		var recs []LogRecord
		if err := json.Unmarshal(v, &recs); err != nil {
			return fmt.Errorf("registry: decode logs of %q: %w", k, err)
		}
		g := r.ringLocked(string(k))
		if len(recs) > r.opts.LogRing {
			recs = recs[len(recs)-r.opts.LogRing:]
		}
		g.recs = recs
		if n := len(recs); n > 0 {
			g.next = recs[n-1].Seq + 1
		}
		return nil
	})
}
