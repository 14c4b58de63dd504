package kv

import (
	"bytes"
	"context"
	"slices"
	"strings"

	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/host"
)

// Within an event's transaction (host.Call.Tx) the kv operations work on
// an overlay kept in the Tx: writes and deletes are staged there and
// written when the event commits; reads see the event's own staged writes
// first and the store after. Every value read from the store (present or
// absent) and every key range a kv.list walked is recorded and checked
// again inside the commit: if another event changed it meanwhile, the
// commit fails with host.ErrTxConflict and the runtime runs the event
// again. An event that only reads is not checked: it writes nothing
// another event could lose. This is optimistic concurrency control: events of one app never
// wait for each other while they run; the cost is a second look at what
// the event read, inside the commit, and a re-run when two events changed
// the same key at once.

// txKey is the key of a Store's overlay in a host.Tx.
type txKey struct{ s *Store }

// entry names one stored key: the app's bucket and the key inside it
// (namespace prefix included).
type entry struct{ bucket, key string }

// read is what the event saw of an entry in the store.
type read struct {
	present bool
	raw     []byte // flag byte + data, when present
}

// staged is a write (v != nil) or a delete (v == nil) of the event.
type staged struct {
	ns  Namespace
	key string
	v   *Value
}

// walked is a key range a kv.list walked in the store: starting at start
// (after it when after is set), the keys with prefix it met, in order,
// and whether it met the range's end.
type walked struct {
	bucket string
	prefix []byte
	start  []byte
	after  bool
	keys   [][]byte
	end    bool
}

// overlay is one event's view of a Store.
type overlay struct {
	s      *Store
	tx     *host.Tx
	reads  map[entry]read
	writes map[entry]*staged
	order  []entry // writes in the order first staged
	ranges []walked
	usage  map[string]int64 // usage key -> bytes the staged writes add (may be negative)
}

func (s *Store) overlay(tx *host.Tx) *overlay {
	return tx.Local(txKey{s}, func() any {
		return &overlay{s: s, tx: tx, reads: map[entry]read{}, writes: map[entry]*staged{}, usage: map[string]int64{}}
	}).(*overlay)
}

func entryOf(ns Namespace, key string) entry {
	return entry{bucket: string(ns.appKey()), key: string(ns.prefix()) + key}
}

// storeRaw returns the stored form of e, outside the event's writes.
func (o *overlay) storeRaw(e entry) (read, error) {
	if r, ok := o.reads[e]; ok {
		return r, nil
	}
	var r read
	err := o.s.db.View(func(tx *bbolt.Tx) error {
		if b := tx.Bucket(bucketData).Bucket([]byte(e.bucket)); b != nil {
			if raw := b.Get([]byte(e.key)); raw != nil {
				r = read{present: true, raw: bytes.Clone(raw)}
			}
		}
		return nil
	})
	return r, err
}

// current returns e as the event sees it; record makes the store's value
// part of what the commit checks.
func (o *overlay) current(e entry, record bool) (read, error) {
	if w, ok := o.writes[e]; ok {
		if w.v == nil {
			return read{}, nil
		}
		return read{present: true, raw: encode(*w.v)}, nil
	}
	r, err := o.storeRaw(e)
	if err == nil && record {
		o.reads[e] = r
	}
	return r, err
}

func encode(v Value) []byte {
	flag := byte(0)
	if v.Binary {
		flag = 1
	}
	return append([]byte{flag}, v.Data...)
}

func (o *overlay) get(ns Namespace, key string) (Value, error) {
	r, err := o.current(entryOf(ns, key), true)
	if err != nil {
		return Value{}, err
	}
	if !r.present {
		return Value{}, host.Wrapf(ErrNotFound, "%q", key)
	}
	return Value{Data: bytes.Clone(r.raw[1:]), Binary: r.raw[0] == 1}, nil
}

// size returns the bytes e takes (key + value), as the event sees it,
// without making it part of what the commit checks.
func (o *overlay) size(e entry, key string) (int64, error) {
	r, err := o.current(e, false)
	if err != nil || !r.present {
		return 0, err
	}
	return int64(len(key) + len(r.raw) - 1), nil
}

func (o *overlay) set(ctx context.Context, ns Namespace, key string, v Value) error {
	e := entryOf(ns, key)
	old, err := o.size(e, key)
	if err != nil {
		return err
	}
	delta := int64(len(key)+len(v.Data)) - old
	if delta > 0 {
		stored, err := o.s.Usage(ctx, AppNamespace(host.AppRef{Merchant: ns.Merchant, App: ns.App}))
		if err != nil {
			return err
		}
		if app := stored + o.usage[string(ns.appKey())] + delta; app > o.s.lim.AppBytes {
			return host.Wrapf(ErrQuota, "the app would store %d bytes, above its limit of %d; delete keys first", app, o.s.lim.AppBytes)
		}
		if ns.Person != "" {
			stored, err := o.s.Usage(ctx, ns)
			if err != nil {
				return err
			}
			if person := stored + o.usage[string(ns.personKey())] + delta; person > o.s.lim.PersonBytes {
				return host.Wrapf(ErrQuota, "this person's scope would hold %d bytes, above its limit of %d; delete keys first", person, o.s.lim.PersonBytes)
			}
		}
	}
	o.stage(e, &staged{ns: ns, key: key, v: &Value{Data: bytes.Clone(v.Data), Binary: v.Binary}}, delta)
	return nil
}

func (o *overlay) del(ns Namespace, key string) (bool, error) {
	e := entryOf(ns, key)
	r, err := o.current(e, true)
	if err != nil || !r.present {
		return false, err
	}
	o.stage(e, &staged{ns: ns, key: key}, -int64(len(key)+len(r.raw)-1))
	return true, nil
}

func (o *overlay) stage(e entry, w *staged, delta int64) {
	if len(o.order) == 0 {
		// The first write: from now on the event commits something, and
		// what it read is checked there. An event that only reads writes
		// nothing another event could lose, and is not checked.
		o.tx.Stage(host.Effect{Apply: o.apply})
	}
	if _, ok := o.writes[e]; !ok {
		o.order = append(o.order, e)
	}
	o.writes[e] = w
	o.usage[string(w.ns.appKey())] += delta
	if w.ns.Person != "" {
		o.usage[string(w.ns.personKey())] += delta
	}
}

// list is Store.List seen through the event's writes; the store keys it
// walked are checked again at the commit.
func (o *overlay) list(ns Namespace, prefix, cursor string, limit int) (keys []string, next string, err error) {
	scope := ns.prefix()
	full := append(bytes.Clone(scope), prefix...)
	wk := walked{bucket: string(ns.appKey()), prefix: full, start: full}
	if cursor != "" && cursor >= prefix {
		wk.start, wk.after = append(bytes.Clone(scope), cursor...), true
	}
	// The event's own keys in range, in byte order.
	var mine []string
	for e, w := range o.writes {
		if e.bucket == wk.bucket && w.v != nil && strings.HasPrefix(e.key, string(full)) && (e.key > string(wk.start) || !wk.after && e.key == string(wk.start)) {
			mine = append(mine, e.key)
		}
	}
	slices.Sort(mine)
	err = o.s.db.View(func(tx *bbolt.Tx) error {
		var c *bbolt.Cursor
		if b := tx.Bucket(bucketData).Bucket(ns.appKey()); b != nil {
			c = b.Cursor()
		}
		storeKey := func(k []byte) []byte {
			if k == nil || !bytes.HasPrefix(k, full) {
				wk.end = true
				return nil
			}
			k = bytes.Clone(k)
			wk.keys = append(wk.keys, k)
			return k
		}
		var sk []byte
		if c == nil {
			wk.end = true
		} else {
			k, _ := c.Seek(wk.start)
			if wk.after && bytes.Equal(k, wk.start) {
				k, _ = c.Next()
			}
			sk = storeKey(k)
		}
		advance := func() {
			if !wk.end {
				k, _ := c.Next()
				sk = storeKey(k)
			}
		}
		var all []string // merged keys, with the namespace prefix
		for len(all) <= limit {
			var k string
			switch {
			case sk == nil && len(mine) == 0:
				return nil
			case sk == nil || len(mine) > 0 && mine[0] < string(sk):
				k, mine = mine[0], mine[1:]
			default:
				k = string(sk)
				if len(mine) > 0 && mine[0] == k {
					mine = mine[1:]
				}
				advance()
				if w, ok := o.writes[entry{wk.bucket, k}]; ok && w.v == nil {
					continue // deleted by the event
				}
			}
			if len(all) == limit {
				next = keys[len(keys)-1]
				return nil
			}
			all = append(all, k)
			keys = append(keys, k[len(scope):])
		}
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	o.ranges = append(o.ranges, wk)
	return keys, next, nil
}

// apply checks what the event read against the store and writes what it
// staged, inside the event's commit.
func (o *overlay) apply(tx *bbolt.Tx) error {
	data := tx.Bucket(bucketData)
	for e, r := range o.reads {
		var raw []byte
		if b := data.Bucket([]byte(e.bucket)); b != nil {
			raw = b.Get([]byte(e.key))
		}
		if (raw != nil) != r.present || !bytes.Equal(raw, r.raw) {
			return host.Wrapf(host.ErrTxConflict, "kv key %q changed", keyName(e.key))
		}
	}
	for _, wk := range o.ranges {
		if err := wk.check(data); err != nil {
			return err
		}
	}
	usage := tx.Bucket(bucketUsage)
	for _, e := range o.order {
		w := o.writes[e]
		b, err := data.CreateBucketIfNotExists([]byte(e.bucket))
		if err != nil {
			return err
		}
		var old int64
		if raw := b.Get([]byte(e.key)); raw != nil {
			old = int64(len(w.key) + len(raw) - 1)
		}
		var delta int64
		if w.v != nil {
			delta = int64(len(w.key)+len(w.v.Data)) - old
		} else {
			delta = -old
		}
		app := getUsage(usage, w.ns.appKey()) + delta
		if delta > 0 && app > o.s.lim.AppBytes {
			return host.Wrapf(ErrQuota, "the app would store %d bytes, above its limit of %d; delete keys first", app, o.s.lim.AppBytes)
		}
		if w.ns.Person != "" {
			person := getUsage(usage, w.ns.personKey()) + delta
			if delta > 0 && person > o.s.lim.PersonBytes {
				return host.Wrapf(ErrQuota, "this person's scope would hold %d bytes, above its limit of %d; delete keys first", person, o.s.lim.PersonBytes)
			}
			if err := putUsage(usage, w.ns.personKey(), person); err != nil {
				return err
			}
		}
		if err := putUsage(usage, w.ns.appKey(), app); err != nil {
			return err
		}
		if w.v == nil {
			if err := b.Delete([]byte(e.key)); err != nil {
				return err
			}
			continue
		}
		if err := b.Put([]byte(e.key), encode(*w.v)); err != nil {
			return err
		}
	}
	return nil
}

// check walks wk's range again in data and reports a conflict if it meets
// other keys than the event saw.
func (wk walked) check(data *bbolt.Bucket) error {
	changed := host.Wrapf(host.ErrTxConflict, "the kv keys under %q changed", keyName(string(wk.prefix)))
	b := data.Bucket([]byte(wk.bucket))
	if b == nil {
		if len(wk.keys) > 0 {
			return changed
		}
		return nil
	}
	c := b.Cursor()
	k, _ := c.Seek(wk.start)
	if wk.after && bytes.Equal(k, wk.start) {
		k, _ = c.Next()
	}
	for _, want := range wk.keys {
		if !bytes.Equal(k, want) {
			return changed
		}
		k, _ = c.Next()
	}
	if wk.end && k != nil && bytes.HasPrefix(k, wk.prefix) {
		return changed
	}
	return nil
}

// keyName returns a stored key without its namespace prefix, for messages.
func keyName(k string) string {
	if i := strings.LastIndexByte(k, 0); i >= 0 {
		return k[i+1:]
	}
	return k
}
