package bolt

import (
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"go.etcd.io/bbolt"
)

var (
	errRefused = errors.New("refused")
	errBroken  = errors.New("broken")
	bucket     = []byte("test.data")
)

func openDB(t *testing.T) *bbolt.DB {
	t.Helper()
	db, err := bbolt.Open(filepath.Join(t.TempDir(), "test.db"), 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Update(func(tx *bbolt.Tx) error { _, err := tx.CreateBucket(bucket); return err }); err != nil {
		t.Fatal(err)
	}
	return db
}

func get(t *testing.T, db *bbolt.DB, key string) (string, bool) {
	t.Helper()
	var v []byte
	if err := db.View(func(tx *bbolt.Tx) error {
		if b := tx.Bucket(bucket).Get([]byte(key)); b != nil {
			v = append([]byte{}, b...)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return string(v), v != nil
}

// put writes key and records the transaction it ran in.
func put(key string, txs *[]int) func(tx *bbolt.Tx) error {
	return func(tx *bbolt.Tx) error {
		*txs = append(*txs, tx.ID())
		return tx.Bucket(bucket).Put([]byte(key), []byte("v"))
	}
}

// waitPending waits until n jobs are queued behind the running leader.
func waitPending(c *Committer, n int) {
	for {
		c.q.mu.Lock()
		got := len(c.q.pending)
		c.q.mu.Unlock()
		if got >= n {
			return
		}
		runtime.Gosched()
	}
}

func TestAlone(t *testing.T) {
	tests := []struct {
		name    string
		fn      func(tx *bbolt.Tx) error
		wantErr error
		stored  bool
	}{
		{"write", func(tx *bbolt.Tx) error { return tx.Bucket(bucket).Put([]byte("k"), []byte("v")) }, nil, true},
		{"refusal", func(tx *bbolt.Tx) error { return fmt.Errorf("no: %w", errRefused) }, errRefused, false},
		{"failure after a write rolls it back", func(tx *bbolt.Tx) error {
			if err := tx.Bucket(bucket).Put([]byte("k"), []byte("v")); err != nil {
				return err
			}
			return errBroken
		}, errBroken, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db := openDB(t)
			c := NewCommitter(db, Config{Refusals: []error{errRefused}})
			if err := c.Do(tc.fn); !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Fatalf("Do = %v, want %v", err, tc.wantErr)
			}
			if _, ok := get(t, db, "k"); ok != tc.stored {
				t.Fatalf("stored = %v, want %v", ok, tc.stored)
			}
		})
	}
}

// group makes a leader job wait until the jobs in fns are queued behind it,
// so that they commit as one group, and returns their errors.
func group(t *testing.T, c *Committer, fns ...func(tx *bbolt.Tx) error) []error {
	t.Helper()
	started, release := make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := c.Do(func(tx *bbolt.Tx) error { close(started); <-release; return nil }); err != nil {
			t.Errorf("leader: %v", err)
		}
	})
	<-started
	errs := make([]error, len(fns))
	for i, fn := range fns {
		wg.Go(func() { errs[i] = c.Do(fn) })
		waitPending(c, i+1) // queued in this order
	}
	close(release)
	wg.Wait()
	return errs
}

func TestRefusalKeepsTheGroup(t *testing.T) {
	db := openDB(t)
	c := NewCommitter(db, Config{Refusals: []error{errRefused}})
	var a, b, refused []int
	errs := group(t, c, put("a", &a), func(tx *bbolt.Tx) error {
		refused = append(refused, tx.ID())
		return fmt.Errorf("job 2: %w", errRefused)
	}, put("b", &b))
	if errs[0] != nil || !errors.Is(errs[1], errRefused) || errs[2] != nil {
		t.Fatalf("errors %v, want nil, refused, nil", errs)
	}
	for _, k := range []string{"a", "b"} {
		if _, ok := get(t, db, k); !ok {
			t.Errorf("%s was not committed", k)
		}
	}
	// One shared transaction, each job run once: the refusal rolled nothing back.
	if len(a) != 1 || len(b) != 1 || len(refused) != 1 || a[0] != b[0] || a[0] != refused[0] {
		t.Fatalf("transactions a=%v b=%v refused=%v, want one shared run each", a, b, refused)
	}
}

func TestFailureRetriesAlone(t *testing.T) {
	db := openDB(t)
	c := NewCommitter(db, Config{Refusals: []error{errRefused}})
	var a, b []int
	errs := group(t, c, put("a", &a), func(tx *bbolt.Tx) error {
		if err := tx.Bucket(bucket).Put([]byte("bad"), []byte("v")); err != nil {
			return err
		}
		return errBroken
	}, put("b", &b))
	if errs[0] != nil || !errors.Is(errs[1], errBroken) || errs[2] != nil {
		t.Fatalf("errors %v, want nil, broken, nil", errs)
	}
	if _, ok := get(t, db, "bad"); ok {
		t.Error("the failed job's write was committed")
	}
	for _, k := range []string{"a", "b"} {
		if _, ok := get(t, db, k); !ok {
			t.Errorf("%s was not committed", k)
		}
	}
	// The group rolled back after a and the failure; every job then ran
	// again in a transaction of its own.
	if len(a) != 2 || len(b) != 1 || a[1] == b[0] {
		t.Fatalf("transactions a=%v b=%v, want a's rolled-back run, then one run each alone", a, b)
	}
}

// TestHammer increments one counter from many goroutines, refusing odd
// values: every accepted increment is counted exactly once.
func TestHammer(t *testing.T) {
	db := openDB(t)
	c := NewCommitter(db, Config{Refusals: []error{errRefused}})
	const workers, steps = 8, 100
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		accepted int
	)
	for w := range workers {
		wg.Go(func() {
			for i := range steps {
				err := c.Do(func(tx *bbolt.Tx) error {
					if (w+i)%2 == 1 {
						return errRefused
					}
					b := tx.Bucket(bucket)
					var n uint64
					if v := b.Get([]byte("n")); v != nil {
						n = binary.BigEndian.Uint64(v)
					}
					return b.Put([]byte("n"), binary.BigEndian.AppendUint64(nil, n+1))
				})
				switch {
				case err == nil:
					mu.Lock()
					accepted++
					mu.Unlock()
				case !errors.Is(err, errRefused):
					t.Errorf("Do: %v", err)
				}
			}
		})
	}
	wg.Wait()
	v, _ := get(t, db, "n")
	if got := binary.BigEndian.Uint64([]byte(v)); got != uint64(accepted) || accepted != workers*steps/2 {
		t.Fatalf("counter %d, accepted %d, want %d", got, accepted, workers*steps/2)
	}
}

// Jobs queued with Go commit without their caller waiting, their thens run
// in queue order, and Close waits for all of them; after Close, Do and Go
// refuse.
func TestGoAndClose(t *testing.T) {
	db := openDB(t)
	c := NewCommitter(db, Config{Refusals: []error{errRefused}, MaxGroup: 8})
	const n = 500
	var (
		mu    sync.Mutex
		order []int
		errs  = map[int]error{}
	)
	var wg sync.WaitGroup
	wg.Go(func() { // Do callers mixed in, leading in turns
		for i := range 50 {
			if err := c.Do(func(tx *bbolt.Tx) error {
				return tx.Bucket(bucket).Put([]byte(fmt.Sprint("do", i)), []byte("v"))
			}); err != nil {
				t.Errorf("Do %d: %v", i, err)
			}
		}
	})
	for i := range n {
		err := c.Go(func(tx *bbolt.Tx) error {
			if i%7 == 0 {
				return errRefused
			}
			return tx.Bucket(bucket).Put([]byte(fmt.Sprint("go", i)), []byte("v"))
		}, func(err error) {
			mu.Lock()
			order = append(order, i)
			errs[i] = err
			mu.Unlock()
		})
		if err != nil {
			t.Fatalf("Go %d: %v", i, err)
		}
	}
	wg.Wait()
	c.Close()
	if len(order) != n {
		t.Fatalf("%d thens called after Close, want %d", len(order), n)
	}
	for k, i := range order {
		if i != k {
			t.Fatalf("then %d called in place %d", i, k)
		}
		_, stored := get(t, db, fmt.Sprint("go", i))
		if refused := i%7 == 0; refused != errors.Is(errs[i], errRefused) || stored == refused {
			t.Fatalf("job %d: err %v, stored %v", i, errs[i], stored)
		}
	}
	if err := c.Do(func(*bbolt.Tx) error { return nil }); !errors.Is(err, ErrClosed) {
		t.Fatalf("Do after Close = %v, want ErrClosed", err)
	}
	if err := c.Go(func(*bbolt.Tx) error { return nil }, func(error) { t.Error("then called after a refused Go") }); !errors.Is(err, ErrClosed) {
		t.Fatalf("Go after Close = %v, want ErrClosed", err)
	}
}

// A group never holds more than MaxGroup jobs.
func TestMaxGroup(t *testing.T) {
	db := openDB(t)
	c := NewCommitter(db, Config{MaxGroup: 3})
	var txs []int
	fns := make([]func(tx *bbolt.Tx) error, 7)
	for i := range fns {
		fns[i] = put(fmt.Sprint("k", i), &txs)
	}
	for _, err := range group(t, c, fns...) {
		if err != nil {
			t.Fatal(err)
		}
	}
	per := map[int]int{}
	for _, tx := range txs {
		per[tx]++
	}
	for tx, k := range per {
		if k > 3 {
			t.Fatalf("transaction %d ran %d jobs, want at most 3", tx, k)
		}
	}
	if len(per) < 3 {
		t.Fatalf("7 jobs in %d transactions, want at least 3", len(per))
	}
}

// A failing job queued with Go rolls back only itself: the group is retried
// job by job, and each then gets its own job's outcome.
func TestGoFailureRetriesAlone(t *testing.T) {
	db := openDB(t)
	c := NewCommitter(db, Config{})
	started, release := make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { // holds the lead while the Go jobs queue up behind it
		if err := c.Do(func(tx *bbolt.Tx) error { close(started); <-release; return nil }); err != nil {
			t.Errorf("leader: %v", err)
		}
	})
	<-started
	errs := make([]error, 3)
	var done sync.WaitGroup
	done.Add(3)
	for i, fn := range []func(tx *bbolt.Tx) error{
		func(tx *bbolt.Tx) error { return tx.Bucket(bucket).Put([]byte("a"), []byte("v")) },
		func(tx *bbolt.Tx) error {
			if err := tx.Bucket(bucket).Put([]byte("bad"), []byte("v")); err != nil {
				return err
			}
			return errBroken
		},
		func(tx *bbolt.Tx) error { return tx.Bucket(bucket).Put([]byte("b"), []byte("v")) },
	} {
		if err := c.Go(fn, func(err error) { errs[i] = err; done.Done() }); err != nil {
			t.Fatal(err)
		}
	}
	close(release)
	done.Wait()
	wg.Wait()
	c.Close()
	if errs[0] != nil || !errors.Is(errs[1], errBroken) || errs[2] != nil {
		t.Fatalf("errors %v, want nil, broken, nil", errs)
	}
	for k, want := range map[string]bool{"a": true, "bad": false, "b": true} {
		if _, ok := get(t, db, k); ok != want {
			t.Errorf("%s stored = %v, want %v", k, ok, want)
		}
	}
}

// The Committers of one database share its queue: the jobs of two stores
// commit in one transaction, each judged by its own Committer's refusals,
// and a failure of one store's job rolls the group back and runs each job
// alone, whichever store queued it.
func TestCommittersOfOneDatabaseShareTransactions(t *testing.T) {
	tests := []struct {
		name      string
		second    func(tx *bbolt.Tx) error // queued on b, whose refusals are errBroken only
		wantShare bool
	}{
		{"both write", func(tx *bbolt.Tx) error { return tx.Bucket(bucket).Put([]byte("b"), []byte("v")) }, true},
		{"b refuses by its own rule", func(tx *bbolt.Tx) error { return errBroken }, true},
		{"a's refusal is a failure for b", func(tx *bbolt.Tx) error { return errRefused }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db := openDB(t)
			a := NewCommitter(db, Config{Refusals: []error{errRefused}})
			b := NewCommitter(db, Config{Refusals: []error{errBroken}})
			started, release := make(chan struct{}), make(chan struct{})
			var wg sync.WaitGroup
			wg.Go(func() {
				if err := a.Do(func(tx *bbolt.Tx) error { close(started); <-release; return nil }); err != nil {
					t.Errorf("leader: %v", err)
				}
			})
			<-started
			var first, second []int
			var errs [3]error
			wg.Go(func() { errs[0] = a.Do(put("a", &first)) })
			waitPending(a, 1)
			wg.Go(func() {
				errs[1] = b.Do(func(tx *bbolt.Tx) error {
					second = append(second, tx.ID())
					return tc.second(tx)
				})
			})
			waitPending(a, 2)
			wg.Go(func() { errs[2] = a.Do(put("c", &first)) })
			waitPending(a, 3)
			close(release)
			wg.Wait()
			if errs[0] != nil || errs[2] != nil {
				t.Fatalf("a's jobs: %v, %v", errs[0], errs[2])
			}
			for _, k := range []string{"a", "c"} {
				if _, ok := get(t, db, k); !ok {
					t.Errorf("%s was not committed", k)
				}
			}
			shared := len(first) == 2 && len(second) == 1 && first[0] == second[0] && first[1] == second[0]
			if shared != tc.wantShare {
				t.Fatalf("transactions of a's jobs %v, of b's %v: shared = %v, want %v", first, second, shared, tc.wantShare)
			}
		})
	}
}

// Closing one Committer of a database refuses its jobs only; another
// database's Committers never wait for this one's commits.
func TestCloseOneCommitterOfADatabase(t *testing.T) {
	db := openDB(t)
	a, b := NewCommitter(db, Config{}), NewCommitter(db, Config{})
	a.Close()
	if err := a.Do(func(*bbolt.Tx) error { return nil }); !errors.Is(err, ErrClosed) {
		t.Fatalf("Do on the closed committer = %v, want ErrClosed", err)
	}
	var txs []int
	if err := b.Do(put("k", &txs)); err != nil {
		t.Fatalf("Do on the other committer: %v", err)
	}
	if _, ok := get(t, db, "k"); !ok {
		t.Fatal("the other committer's job was not committed")
	}

	other := NewCommitter(openDB(t), Config{})
	started, release := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- b.Do(func(*bbolt.Tx) error { close(started); <-release; return nil }) }()
	<-started // db's lead is held
	if err := other.Do(put("k", &txs)); err != nil {
		t.Fatalf("Do on another database while the first is committing: %v", err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// MaxGroup bounds a Committer's own jobs in a transaction, whoever queued
// the others: a group takes the queue in order up to the job that would
// exceed its Committer's bound.
func TestMaxGroupAcrossCommitters(t *testing.T) {
	db := openDB(t)
	small, big := NewCommitter(db, Config{MaxGroup: 2}), NewCommitter(db, Config{})
	started, release := make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { big.Do(func(*bbolt.Tx) error { close(started); <-release; return nil }) })
	<-started
	// Queued: big, small, big, small, small, big.
	queued := []*Committer{big, small, big, small, small, big}
	txOf := make([][]int, len(queued))
	for i, c := range queued {
		wg.Go(func() {
			if err := c.Do(put(fmt.Sprint("k", i), &txOf[i])); err != nil {
				t.Errorf("job %d: %v", i, err)
			}
		})
		waitPending(big, i+1)
	}
	close(release)
	wg.Wait()
	tx := make([]int, len(queued))
	for i, txs := range txOf {
		if len(txs) != 1 {
			t.Fatalf("job %d ran in transactions %v, want one", i, txs)
		}
		tx[i] = txs[0]
	}
	// The first group stops before the third small job: four jobs; the
	// rest commit together in the next.
	if !(tx[0] == tx[1] && tx[1] == tx[2] && tx[2] == tx[3]) || tx[4] == tx[3] || tx[4] != tx[5] {
		t.Fatalf("transactions per job %v, want the first four together and the last two together", tx)
	}
}
