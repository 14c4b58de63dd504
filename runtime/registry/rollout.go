package registry

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"go.etcd.io/bbolt"
)

// Bucket returns the stable gray-release bucket 0..99 of key (a person, or
// a conversation for events with no person) for app.
func Bucket(app, key string) int {
	sum := sha256.Sum256([]byte(app + "\x00" + key))
	return int(binary.BigEndian.Uint64(sum[:8]) % 100)
}

// Choose returns the version a person gets from the rollout state of a,
// ignoring conversation pins.
func (a *App) Choose(person string) string {
	if a.Candidate != "" && Bucket(a.ID, person) < a.Percent {
		return a.Candidate
	}
	return a.Live
}

func (a *App) serves(version string) bool {
	return version != "" && (version == a.Live || version == a.Candidate)
}

// Promote rolls version out to percent (1..100) of people. 100 makes it
// live and clears the candidate; 1..99 makes it the candidate. The version
// must be uploaded and its module not pruned.
func (r *Registry) Promote(appID, version string, percent int) (*App, error) {
	if percent < 1 || percent > 100 {
		return nil, fmt.Errorf("percent %d: %w; give 1..99 for a gray release or 100 to make the version live", percent, ErrInvalid)
	}
	return r.update(appID, func(tx *bbolt.Tx, a *App) error {
		v, err := getVersion(tx, appID, version)
		if err != nil {
			return err
		}
		if v.Pruned {
			return fmt.Errorf("app %q version %q: %w; upload it again", appID, version, ErrPruned)
		}
		if percent == 100 {
			if a.Live != version {
				a.History = append(slices.DeleteFunc(a.History, func(s string) bool { return s == version }), a.Live)
				a.Live = version
			}
			a.Candidate, a.Percent = "", 0
			return nil
		}
		if a.Live == version {
			return fmt.Errorf("version %q is already live: %w; to gray-release another version, promote that one, or roll back", version, ErrInvalid)
		}
		a.Candidate, a.Percent = version, percent
		return nil
	})
}

// Rollback with version "" drops the candidate if there is one, otherwise
// makes the previous live version live again (repeated rollbacks walk back
// through the live versions). With a version, it makes that version live at
// once and drops the candidate, like Promote at 100: the version it replaces
// is remembered, so a following Rollback("") undoes it.
func (r *Registry) Rollback(appID, version string) (*App, error) {
	return r.update(appID, func(tx *bbolt.Tx, a *App) error {
		if version == "" {
			if a.Candidate != "" {
				a.Candidate, a.Percent = "", 0
				return nil
			}
			for len(a.History) > 0 {
				prev := a.History[len(a.History)-1]
				a.History = a.History[:len(a.History)-1]
				v, err := getVersion(tx, appID, prev)
				if err != nil || v.Pruned || prev == a.Live {
					continue
				}
				a.Live = prev
				return nil
			}
			return fmt.Errorf("app %q has no earlier version kept to roll back to: %w; name a version", appID, ErrInvalid)
		}
		v, err := getVersion(tx, appID, version)
		if err != nil {
			return err
		}
		if v.Pruned {
			return fmt.Errorf("app %q version %q: %w; upload it again", appID, version, ErrPruned)
		}
		if a.Live != version {
			a.History = append(slices.DeleteFunc(a.History, func(s string) bool { return s == version }), a.Live)
		}
		a.Live, a.Candidate, a.Percent = version, "", 0
		return nil
	})
}

func (r *Registry) update(appID string, fn func(tx *bbolt.Tx, a *App) error) (*App, error) {
	var out *App
	err := r.db.Update(func(tx *bbolt.Tx) error {
		a, err := getApp(tx, appID)
		if err != nil {
			return err
		}
		if err := fn(tx, a); err != nil {
			return err
		}
		a.Updated = r.opts.Now().UTC()
		if err := r.prune(tx, a); err != nil {
			return err
		}
		out = a
		return putJSON(tx.Bucket(bucketApps), []byte(a.ID), a)
	})
	if err != nil {
		return nil, err
	}
	r.cached(out)
	c := *out
	return &c, nil
}

// Pick returns the version that serves the next event of person in
// conversation, following the conversation-consistency rule (see the
// package documentation), and pins the conversation to it.
func (r *Registry) Pick(appID, person, conversation string) (*App, string, error) {
	key := person
	if key == "" {
		key = conversation
	}
	a, err := r.rollout(appID)
	if err != nil {
		return nil, "", err
	}
	if a.Live == "" {
		return nil, "", fmt.Errorf("app %q: %w", appID, ErrNoLive)
	}
	if conversation == "" {
		return a, a.Choose(key), nil
	}
	k := versionKey(appID, conversation)
	if v := r.pinned(k); a.serves(v) {
		return a, v, nil
	}
	var (
		version string
		repin   bool
	)
	err = r.db.View(func(tx *bbolt.Tx) error {
		if pin := tx.Bucket(bucketPins).Get(k); a.serves(string(pin)) {
			version = string(pin)
			return nil
		}
		repin = true
		return nil
	})
	if err != nil || !repin {
		if err == nil {
			r.pin(k, version)
		}
		return a, version, err
	}
	// A conversation's first event pins it, once per conversation: when
	// many people open the app at once, their pins share transactions.
	err = r.pinC.Do(func(tx *bbolt.Tx) error {
		a2, err := getApp(tx, appID)
		if err != nil {
			return err
		}
		pins := tx.Bucket(bucketPins)
		if pin := pins.Get(k); a2.serves(string(pin)) {
			a, version = a2, string(pin) // pinned meanwhile by a concurrent event
			return nil
		}
		a, version = a2, a2.Choose(key)
		if version == "" {
			return fmt.Errorf("app %q: %w", appID, ErrNoLive)
		}
		return pins.Put(k, []byte(version))
	})
	if err != nil && !errors.Is(err, ErrNoLive) {
		return nil, "", fmt.Errorf("registry: pin conversation: %w", err)
	}
	if err == nil {
		r.pin(k, version)
	}
	return a, version, err
}

// maxPinCache bounds the pins Pick keeps in memory; past it the cache starts
// over (the store has them all).
const maxPinCache = 100_000

// pinned returns the cached pin of key, or "". Pins are written only by
// Pick, which caches what it stores, so a cached pin is the stored one.
func (r *Registry) pinned(key []byte) string {
	r.pinMu.RLock()
	defer r.pinMu.RUnlock()
	return r.pins[string(key)]
}

func (r *Registry) pin(key []byte, version string) {
	r.pinMu.Lock()
	defer r.pinMu.Unlock()
	if r.pins == nil || len(r.pins) >= maxPinCache {
		r.pins = make(map[string]string)
	}
	r.pins[string(key)] = version
}
