package registry

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/bolt"

	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/runtime/assets"
	"github.com/passerelle/passerelle/runtime/wasmfile"
)

// Errors returned by the registry, wrapped with details: host.Error kinds,
// so that every edge reads their status with host.StatusOf.
var (
	ErrNotFound      = &host.Error{Status: host.StatusNotFound, Message: "not found"}                                                // no such app or version
	ErrNotOwner      = &host.Error{Status: host.StatusConflict, Code: "app_id_taken", Message: "app id belongs to another merchant"} // the id is taken
	ErrVersionExists = &host.Error{Status: host.StatusConflict, Code: "version_exists", Message: "version already uploaded"}         // versions are immutable
	ErrPruned        = &host.Error{Status: host.StatusNotFound, Code: "version_pruned", Message: "module was pruned"}                // metadata kept, bytes gone
	ErrInvalid       = &host.Error{Status: host.StatusBadRequest, Code: "rollout_invalid", Message: "invalid rollout request"}       // bad percent or version
	ErrNoLive        = &host.Error{Status: host.StatusNotFound, Message: "app has no live version"}
)

// Bucket names; each is owned by this package.
var (
	bucketApps     = []byte("registry.apps")
	bucketVersions = []byte("registry.versions")
	bucketWasm     = []byte("registry.wasm")
	bucketPins     = []byte("registry.pins")
	bucketLogs     = []byte("registry.logs")
	bucketStats    = []byte("registry.stats")
	bucketAssets   = []byte("registry.assets") // SHA-256 (hex) -> file; shared by versions, never pruned
)

// Options tune a Registry. Zero fields take the defaults.
type Options struct {
	KeepVersions int              // modules kept besides live and candidate (default 10)
	LogRing      int              // log records kept per app (default 1000)
	Logger       *slog.Logger     // default: discard
	Now          func() time.Time // default: time.Now
	// FlushEvery, when positive, has the registry write the app logs and
	// figures it keeps in memory to db this often, on a goroutine it owns
	// until Close; zero leaves flushing to the caller (Flush).
	FlushEvery time.Duration
}

// Registry is the app store. It is safe for concurrent use.
type Registry struct {
	db   *bbolt.DB
	pinC *bolt.Committer // pins of new conversations, grouped: many people open an app at once
	opts Options
	log  *slog.Logger

	cacheMu  sync.RWMutex
	cache    map[string]*App // app id -> rollout state as last committed; never mutated
	cacheGen uint64          // bumped by every committed change, so a slow read cannot cache a stale App

	pinMu sync.RWMutex
	pins  map[string]string // versionKey(app, conversation) -> pinned version, as stored; see Pick

	mu    sync.Mutex
	logs  map[string]*ring          // app id -> log ring
	stats map[string]*versionCounts // app\x00version -> figures

	stop      chan struct{} // closed by Close: ends the flusher
	flusher   sync.WaitGroup
	closeOnce sync.Once
}

// App is one app id and its rollout state.
type App struct {
	ID          string    `json:"id"`
	Merchant    string    `json:"merchant"`
	Name        string    `json:"name"`
	Description string    `json:"description,omitempty"`
	Created     time.Time `json:"created"`
	Updated     time.Time `json:"updated"`
	Live        string    `json:"live,omitempty"`
	Candidate   string    `json:"candidate,omitempty"`
	Percent     int       `json:"percent,omitempty"` // share of people on the candidate
	History     []string  `json:"history,omitempty"` // previous live versions, most recent last
	Versions    []string  `json:"versions"`          // every uploaded version, in upload order
}

// Version is one uploaded module.
type Version struct {
	App        string        `json:"app"`
	Version    string        `json:"version"`
	Merchant   string        `json:"merchant"`
	Manifest   host.Manifest `json:"manifest"`
	SHA256     string        `json:"sha256"`
	Size       int64         `json:"size"`
	UploadedAt time.Time     `json:"uploaded_at"`
	UploadedBy string        `json:"uploaded_by"`
	Pruned     bool          `json:"pruned,omitempty"` // module bytes removed; cannot be promoted
	Assets     []Asset       `json:"assets,omitempty"` // the images the module ships, by name
}

// Asset is one image a version ships; its bytes are kept once per
// content, under SHA256.
type Asset struct {
	Name   string `json:"name"`
	Type   string `json:"type"`
	SHA256 string `json:"sha256"`
	Size   int    `json:"size"`
	Path   string `json:"path"` // where the gateway serves it: /assets/<sha256>.<ext>
}

// Ref returns the AppRef of v.
func (v Version) Ref() host.AppRef {
	return host.AppRef{Merchant: v.Merchant, App: v.App, Version: v.Version}
}

// Open prepares the registry's buckets in db, loads the persisted logs and
// figures and, with Options.FlushEvery, starts flushing them. The caller
// owns db and closes the registry before it.
func Open(db *bbolt.DB, opts Options) (*Registry, error) {
	if opts.KeepVersions <= 0 {
		opts.KeepVersions = 10
	}
	if opts.LogRing <= 0 {
		opts.LogRing = 1000
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	r := &Registry{db: db, pinC: bolt.NewCommitter(db, bolt.Config{Refusals: []error{ErrNoLive, ErrNotFound}}), opts: opts, log: opts.Logger, stop: make(chan struct{}),
		cache: map[string]*App{}, logs: map[string]*ring{}, stats: map[string]*versionCounts{}}
	err := db.Update(func(tx *bbolt.Tx) error {
		for _, b := range [][]byte{bucketApps, bucketVersions, bucketWasm, bucketPins, bucketLogs, bucketStats, bucketAssets} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("registry: create buckets: %w", err)
	}
	if err := r.loadPersisted(); err != nil {
		return nil, err
	}
	if opts.FlushEvery > 0 {
		r.flusher.Go(r.flushLoop)
	}
	return r, nil
}

func versionKey(app, version string) []byte { return []byte(app + "\x00" + version) }

func getJSON(b *bbolt.Bucket, key []byte, v any) (bool, error) {
	data := b.Get(key)
	if data == nil {
		return false, nil
	}
	return true, json.Unmarshal(data, v)
}

func putJSON(b *bbolt.Bucket, key []byte, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put(key, data)
}

func getApp(tx *bbolt.Tx, id string) (*App, error) {
	var a App
	ok, err := getJSON(tx.Bucket(bucketApps), []byte(id), &a)
	if err != nil {
		return nil, fmt.Errorf("registry: decode app %q: %w", id, err)
	}
	if !ok {
		return nil, fmt.Errorf("app %q: %w", id, ErrNotFound)
	}
	return &a, nil
}

func getVersion(tx *bbolt.Tx, app, version string) (*Version, error) {
	var v Version
	ok, err := getJSON(tx.Bucket(bucketVersions), versionKey(app, version), &v)
	if err != nil {
		return nil, fmt.Errorf("registry: decode version %s@%s: %w", app, version, err)
	}
	if !ok {
		return nil, fmt.Errorf("app %q version %q: %w", app, version, ErrNotFound)
	}
	return &v, nil
}

// CheckOwner returns nil when merchant may upload app id: the id is free or
// already belongs to merchant. It returns ErrNotOwner otherwise.
func (r *Registry) CheckOwner(appID, merchant string) error {
	return r.db.View(func(tx *bbolt.Tx) error {
		a, err := getApp(tx, appID)
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if a.Merchant != merchant {
			return fmt.Errorf("app %q: %w; choose another id in manifest.json", appID, ErrNotOwner)
		}
		return nil
	})
}

// Add stores a new version of the app named by m.ID for merchant. The
// manifest must already be validated. The first version of an app becomes
// live. uploadedBy is the subject of the token that uploaded it. The
// images the module carries (runtime/assets) are validated and kept by
// their SHA-256.
func (r *Registry) Add(merchant, uploadedBy string, m host.Manifest, wasm []byte) (Version, *App, error) {
	files, err := assets.FromModule(wasm)
	if errors.Is(err, wasmfile.ErrNotWasm) {
		files, err = nil, nil // checking the module is runtime/sandbox's job; it carries no assets
	}
	if err != nil {
		return Version{}, nil, &host.Error{Status: host.StatusBadRequest, Code: "assets_invalid", Message: err.Error()}
	}
	sum := sha256.Sum256(wasm)
	now := r.opts.Now().UTC()
	v := Version{App: m.ID, Version: m.Version, Merchant: merchant, Manifest: m,
		SHA256: hex.EncodeToString(sum[:]), Size: int64(len(wasm)),
		UploadedAt: now, UploadedBy: uploadedBy}
	for _, f := range files {
		v.Assets = append(v.Assets, Asset{Name: f.Name, Type: f.Type, SHA256: f.SHA256, Size: len(f.Data), Path: f.Path()})
	}
	var app *App
	err = r.db.Update(func(tx *bbolt.Tx) error {
		a, err := getApp(tx, m.ID)
		switch {
		case errors.Is(err, ErrNotFound):
			a = &App{ID: m.ID, Merchant: merchant, Created: now}
		case err != nil:
			return err
		case a.Merchant != merchant:
			return fmt.Errorf("app %q: %w; choose another id in manifest.json", m.ID, ErrNotOwner)
		}
		vb := tx.Bucket(bucketVersions)
		if vb.Get(versionKey(m.ID, m.Version)) != nil {
			return fmt.Errorf("app %q version %q: %w; raise the version in manifest.json and build again", m.ID, m.Version, ErrVersionExists)
		}
		if err := putJSON(vb, versionKey(m.ID, m.Version), v); err != nil {
			return err
		}
		if err := tx.Bucket(bucketWasm).Put(versionKey(m.ID, m.Version), wasm); err != nil {
			return err
		}
		ab := tx.Bucket(bucketAssets)
		for _, f := range files {
			if ab.Get([]byte(f.SHA256)) == nil {
				if err := ab.Put([]byte(f.SHA256), f.Data); err != nil {
					return err
				}
			}
		}
		a.Name, a.Description, a.Updated = m.Name, m.Description, now
		a.Versions = append(a.Versions, m.Version)
		if a.Live == "" {
			a.Live = m.Version
		}
		if err := r.prune(tx, a); err != nil {
			return err
		}
		app = a
		return putJSON(tx.Bucket(bucketApps), []byte(a.ID), a)
	})
	if err != nil {
		return Version{}, nil, err
	}
	r.cached(app)
	return v, app, nil
}

// cached records a just-committed App for Pick.
func (r *Registry) cached(a *App) {
	c := *a
	r.cacheMu.Lock()
	r.cache[a.ID] = &c
	r.cacheGen++
	r.cacheMu.Unlock()
}

// rollout returns the committed state of app id, from the cache when it
// holds it. The result must not be modified.
func (r *Registry) rollout(id string) (*App, error) {
	r.cacheMu.RLock()
	a, gen := r.cache[id], r.cacheGen
	r.cacheMu.RUnlock()
	if a != nil {
		return a, nil
	}
	a, err := r.App(id)
	if err != nil {
		return nil, err
	}
	r.cacheMu.Lock()
	if r.cacheGen == gen {
		r.cache[id] = a
	}
	r.cacheMu.Unlock()
	return a, nil
}

// prune removes the modules that are neither live, candidate, nor among
// the last KeepVersions uploads.
func (r *Registry) prune(tx *bbolt.Tx, a *App) error {
	if len(a.Versions) <= r.opts.KeepVersions {
		return nil
	}
	old := a.Versions[:len(a.Versions)-r.opts.KeepVersions]
	wb, vb := tx.Bucket(bucketWasm), tx.Bucket(bucketVersions)
	for _, ver := range old {
		if ver == a.Live || ver == a.Candidate {
			continue
		}
		key := versionKey(a.ID, ver)
		if wb.Get(key) == nil {
			continue
		}
		if err := wb.Delete(key); err != nil {
			return err
		}
		var v Version
		if ok, err := getJSON(vb, key, &v); err != nil || !ok {
			return fmt.Errorf("registry: version %s@%s metadata missing: %v", a.ID, ver, err)
		}
		v.Pruned = true
		if err := putJSON(vb, key, v); err != nil {
			return err
		}
		r.log.Info("pruned module", "app", a.ID, "version", ver)
	}
	return nil
}

// App returns one app.
func (r *Registry) App(id string) (*App, error) {
	var a *App
	err := r.db.View(func(tx *bbolt.Tx) error {
		var err error
		a, err = getApp(tx, id)
		return err
	})
	return a, err
}

// Apps returns every app, or the apps of merchant when it is not "".
func (r *Registry) Apps(merchant string) ([]App, error) {
	var out []App
	err := r.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketApps).ForEach(func(k, data []byte) error {
			var a App
			if err := json.Unmarshal(data, &a); err != nil {
				return fmt.Errorf("registry: decode app %q: %w", k, err)
			}
			if merchant == "" || a.Merchant == merchant {
				out = append(out, a)
			}
			return nil
		})
	})
	return out, err
}

// Version returns the metadata of one version.
func (r *Registry) Version(app, version string) (*Version, error) {
	var v *Version
	err := r.db.View(func(tx *bbolt.Tx) error {
		var err error
		v, err = getVersion(tx, app, version)
		return err
	})
	return v, err
}

// Versions returns every version of app, oldest first.
func (r *Registry) Versions(app string) ([]Version, error) {
	var out []Version
	err := r.db.View(func(tx *bbolt.Tx) error {
		a, err := getApp(tx, app)
		if err != nil {
			return err
		}
		for _, ver := range a.Versions {
			v, err := getVersion(tx, app, ver)
			if err != nil {
				return err
			}
			out = append(out, *v)
		}
		return nil
	})
	return out, err
}

// Module returns a copy of the module bytes of one version.
func (r *Registry) Module(app, version string) ([]byte, error) {
	var out []byte
	err := r.db.View(func(tx *bbolt.Tx) error {
		v, err := getVersion(tx, app, version)
		if err != nil {
			return err
		}
		data := tx.Bucket(bucketWasm).Get(versionKey(app, version))
		if data == nil || v.Pruned {
			return fmt.Errorf("app %q version %q: %w; upload it again", app, version, ErrPruned)
		}
		out = slices.Clone(data)
		return nil
	})
	return out, err
}

// Serving returns the versions that serve events: live first, then the
// candidate if any.
func (a *App) Serving() []string {
	var out []string
	if a.Live != "" {
		out = append(out, a.Live)
	}
	if a.Candidate != "" {
		out = append(out, a.Candidate)
	}
	return out
}
