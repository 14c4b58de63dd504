package registry

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/host"
)

// Latency histogram: bucket i counts durations <= bounds[i]; the last
// bucket also takes everything above. Bounds grow by 20% from 50µs, so a
// reported percentile is at most 20% above the true one.
var bounds = func() []time.Duration {
	var out []time.Duration
	for d := 50e3; d < 130e9; d *= 1.2 {
		out = append(out, time.Duration(math.Round(d)))
	}
	return out
}()

type versionCounts struct {
	Events   uint64            `json:"events"`
	Errors   uint64            `json:"errors"`
	Failures map[string]uint64 `json:"failures,omitempty"`
	Reruns   uint64            `json:"reruns,omitempty"`
	Hist     []uint64          `json:"hist"`
	Last     time.Time         `json:"last"`
	dirty    bool
}

// Stats are the figures of one version since it was uploaded.
type Stats struct {
	App      string            `json:"app"`
	Version  string            `json:"version"`
	Events   uint64            `json:"events"`
	Errors   uint64            `json:"errors"`             // events that failed (any kind)
	Failures map[string]uint64 `json:"failures,omitempty"` // failures by kind
	P50      time.Duration     `json:"p50_ns"`
	P99      time.Duration     `json:"p99_ns"`
	Last     time.Time         `json:"last_event,omitzero"`
	// Reruns counts the runs of events discarded because what they read
	// changed before they committed (host.ErrTxConflict); each such event
	// ran again and counts once in Events.
	Reruns uint64 `json:"reruns,omitempty"`
}

// Record counts one event served by ref that took d. failure is "" for
// success, otherwise the failure kind (deadline, memory, trap, guest...).
func (r *Registry) Record(ref host.AppRef, d time.Duration, failure string) {
	i := sort.Search(len(bounds), func(i int) bool { return bounds[i] >= d })
	if i == len(bounds) {
		i--
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.countLocked(ref, failure).Hist[i]++
}

// RecordRerun counts one run of an event of ref discarded for a conflict
// and run again (Stats.Reruns).
func (r *Registry) RecordRerun(ref host.AppRef) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.countsLocked(ref.App, ref.Version)
	c.Reruns++
	c.dirty = true
}

// RecordRefused counts one event ref's app was not given, with the
// failure kind: an event and an error, without a duration.
func (r *Registry) RecordRefused(ref host.AppRef, failure string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.countLocked(ref, failure)
}

// countLocked counts an event of ref, failed when failure is not "", and
// returns its counts.
func (r *Registry) countLocked(ref host.AppRef, failure string) *versionCounts {
	c := r.countsLocked(ref.App, ref.Version)
	c.Events++
	if failure != "" {
		c.Errors++
		if c.Failures == nil {
			c.Failures = map[string]uint64{}
		}
		c.Failures[failure]++
	}
	c.Last = r.opts.Now().UTC()
	c.dirty = true
	return c
}

func (r *Registry) countsLocked(app, version string) *versionCounts {
	k := app + "\x00" + version
	c := r.stats[k]
	if c == nil {
		c = &versionCounts{Hist: make([]uint64, len(bounds))}
		r.stats[k] = c
	}
	return c
}

// Stats returns the figures of every version of app that served events,
// sorted by version string.
func (r *Registry) Stats(app string) []Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Stats
	prefix := app + "\x00"
	for k, c := range r.stats {
		ver, ok := strings.CutPrefix(k, prefix)
		if !ok {
			continue
		}
		s := Stats{App: app, Version: ver, Events: c.Events, Errors: c.Errors, Reruns: c.Reruns,
			P50: quantile(c.Hist, 0.50), P99: quantile(c.Hist, 0.99), Last: c.Last}
		if len(c.Failures) > 0 {
			s.Failures = make(map[string]uint64, len(c.Failures))
			for f, n := range c.Failures {
				s.Failures[f] = n
			}
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out
}

// quantile returns the upper bound of the bucket holding the q-quantile.
func quantile(hist []uint64, q float64) time.Duration {
	var total uint64
	for _, n := range hist {
		total += n
	}
	if total == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(total)))
	if rank == 0 {
		rank = 1
	}
	var seen uint64
	for i, n := range hist {
		seen += n
		if seen >= rank {
			return bounds[i]
		}
	}
	return bounds[len(bounds)-1]
}

func (r *Registry) snapshotStatsLocked(out map[string][]byte) error {
	for k, c := range r.stats {
		if !c.dirty {
			continue
		}
		data, err := json.Marshal(c)
		if err != nil {
			return fmt.Errorf("registry: encode stats: %w", err)
		}
		out[k] = data
		c.dirty = false
	}
	return nil
}

func (r *Registry) loadStats(tx *bbolt.Tx) error {
	return tx.Bucket(bucketStats).ForEach(func(k, v []byte) error {
		var c versionCounts
		if err := json.Unmarshal(v, &c); err != nil {
			return fmt.Errorf("registry: decode stats %q: %w", k, err)
		}
		if len(c.Hist) != len(bounds) {
			h := make([]uint64, len(bounds))
			copy(h, c.Hist)
			c.Hist = h
		}
		r.stats[string(k)] = &c
		return nil
	})
}

func (r *Registry) loadPersisted() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.db.View(func(tx *bbolt.Tx) error {
		if err := r.loadLogs(tx); err != nil {
			return err
		}
		return r.loadStats(tx)
	})
}

// Flush persists the logs and figures changed since the last Flush. The
// encoding happens under the registry's lock, the disk write outside it.
func (r *Registry) Flush() error {
	logs, stats := map[string][]byte{}, map[string][]byte{}
	r.mu.Lock()
	err := r.snapshotLogsLocked(logs)
	if err == nil {
		err = r.snapshotStatsLocked(stats)
	}
	r.mu.Unlock()
	if err != nil {
		return err
	}
	if len(logs)+len(stats) == 0 {
		return nil
	}
	return r.db.Update(func(tx *bbolt.Tx) error {
		for k, v := range logs {
			if err := tx.Bucket(bucketLogs).Put([]byte(k), v); err != nil {
				return err
			}
		}
		for k, v := range stats {
			if err := tx.Bucket(bucketStats).Put([]byte(k), v); err != nil {
				return err
			}
		}
		return nil
	})
}

// flushLoop flushes every Options.FlushEvery until Close.
func (r *Registry) flushLoop() {
	t := time.NewTicker(r.opts.FlushEvery)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
			if err := r.Flush(); err != nil {
				r.log.Error("flush app logs and figures", "err", err)
			}
		}
	}
}

// Close stops the flusher, waits for it, and flushes once more; the
// registry must not be used after. It does not close db. Calling it again
// only flushes.
func (r *Registry) Close() error {
	r.closeOnce.Do(func() { close(r.stop) })
	r.flusher.Wait()
	return r.Flush()
}
