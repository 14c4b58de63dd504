package registry_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/passerelle/passerelle/runtime/registry"
)

func TestBucketStable(t *testing.T) {
	for i := range 1000 {
		p := fmt.Sprintf("person-%d", i)
		b := registry.Bucket("shop", p)
		if b < 0 || b > 99 {
			t.Fatalf("bucket %d out of range", b)
		}
		if registry.Bucket("shop", p) != b {
			t.Fatalf("bucket of %s not stable", p)
		}
	}
	// Known values: the hash is part of the rollout contract across restarts.
	if got := registry.Bucket("shop", "alice"); got != registry.Bucket("shop", "alice") {
		t.Fatal(got)
	}
}

func TestBucketShare(t *testing.T) {
	const n = 20000
	for _, percent := range []int{1, 10, 25, 50, 90} {
		t.Run(fmt.Sprint(percent), func(t *testing.T) {
			a := &registry.App{ID: "shop", Live: "1", Candidate: "2", Percent: percent}
			got := 0
			for i := range n {
				if a.Choose(fmt.Sprintf("p%d", i)) == "2" {
					got++
				}
			}
			share := float64(got) * 100 / n
			if d := share - float64(percent); d < -1.5 || d > 1.5 {
				t.Fatalf("candidate share %.2f%%, want %d%% ± 1.5", share, percent)
			}
		})
	}
}

// Raising the percentage only moves people from live to candidate.
func TestBucketMonotonic(t *testing.T) {
	for i := range 2000 {
		p := fmt.Sprintf("p%d", i)
		on := false
		for percent := 1; percent <= 100; percent++ {
			a := &registry.App{ID: "ride", Live: "1", Candidate: "2", Percent: percent}
			got := a.Choose(p) == "2"
			if on && !got {
				t.Fatalf("%s left the candidate when percent rose to %d", p, percent)
			}
			on = got
		}
		if !on {
			t.Fatalf("%s not on the candidate at 100%%", p)
		}
	}
}

func FuzzBucket(f *testing.F) {
	f.Add("shop", "alice")
	f.Add("", "")
	f.Fuzz(func(t *testing.T, app, person string) {
		b := registry.Bucket(app, person)
		if b < 0 || b > 99 || b != registry.Bucket(app, person) {
			t.Fatalf("bucket %d", b)
		}
	})
}

// personIn returns a person whose bucket is (in) below percent or (!in) not.
func personIn(t *testing.T, app string, percent int, in bool) string {
	for i := range 10000 {
		p := fmt.Sprintf("person-%d", i)
		if (registry.Bucket(app, p) < percent) == in {
			return p
		}
	}
	t.Fatal("no person found")
	return ""
}

func TestPickConversationPinning(t *testing.T) {
	r := open(t, openDB(t), registry.Options{})
	for _, v := range []string{"1", "2", "3"} {
		add(t, r, "m", "app", v)
	}
	inner := personIn(t, "app", 10, true)  // gets the candidate at 10%
	outer := personIn(t, "app", 90, false) // never gets it below 90%
	pick := func(person, conv string) string {
		t.Helper()
		_, v, err := r.Pick("app", person, conv)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	type step struct {
		do     func()
		person string
		conv   string
		want   string
	}
	promote := func(v string, p int) func() {
		return func() {
			if _, err := r.Promote("app", v, p); err != nil {
				t.Fatal(err)
			}
		}
	}
	rollback := func(v string) func() {
		return func() {
			if _, err := r.Rollback("app", v); err != nil {
				t.Fatal(err)
			}
		}
	}
	steps := []struct {
		name string
		step
	}{
		{"only live", step{nil, inner, "c-inner", "1"}},
		{"gray release: pinned conversation stays on live", step{promote("2", 10), inner, "c-inner", "1"}},
		{"gray release: new conversation of an inner person gets the candidate", step{nil, inner, "c-new", "2"}},
		{"outer person in a conversation pinned to the candidate", step{nil, outer, "c-new", "2"}},
		{"outer person, own conversation", step{nil, outer, "c-outer", "1"}},
		{"no conversation: by person", step{nil, inner, "", "2"}},
		{"percent raised: pins hold", step{promote("2", 50), inner, "c-inner", "1"}},
		{"promotion to 3 removes 2: the conversation moves to the live version", step{promote("3", 100), outer, "c-new", "3"}},
		{"promotion removes 1: moves too", step{nil, inner, "c-inner", "3"}},
		{"rollback to 1: everything moves back", step{rollback("1"), inner, "c-new", "1"}},
		{"pinned to 1 now, a gray release of 2 at 10% keeps it", step{promote("2", 10), inner, "c-new", "1"}},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			if s.do != nil {
				s.do()
			}
			if got := pick(s.person, s.conv); got != s.want {
				t.Fatalf("Pick(%s, %s) = %s, want %s", s.person, s.conv, got, s.want)
			}
			// Asking again gives the same answer.
			if got := pick(s.person, s.conv); got != s.want {
				t.Fatalf("second Pick = %s, want %s", got, s.want)
			}
		})
	}
}

// TestPickManyNewConversationsAtOnce: people opening an app at once each
// get their conversation pinned (the pins share transactions), and each pin
// is in the store: a registry opened again on the database answers the
// same.
func TestPickManyNewConversationsAtOnce(t *testing.T) {
	db := openDB(t)
	r := open(t, db, registry.Options{})
	add(t, r, "m", "app", "1")
	add(t, r, "m", "app", "2")
	if _, err := r.Promote("app", "2", 50); err != nil {
		t.Fatal(err)
	}
	const n = 200
	got := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { _, got[i], errs[i] = r.Pick("app", fmt.Sprint("p", i), fmt.Sprint("c", i)) })
	}
	wg.Wait()
	versions := map[string]int{}
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("Pick %d: %v", i, errs[i])
		}
		versions[got[i]]++
	}
	if versions["1"] == 0 || versions["2"] == 0 || versions["1"]+versions["2"] != n {
		t.Fatalf("versions picked = %v, want both 1 and 2 (a gray release at 50%%), %d in all", versions, n)
	}
	// Another person in each conversation gets its pinned version, read
	// from the store by a fresh registry (with both versions pinned, some
	// of them differ from the version this person's own bucket would give).
	r2 := open(t, db, registry.Options{})
	for i := range n {
		_, v, err := r2.Pick("app", "someone-else", fmt.Sprint("c", i))
		if err != nil {
			t.Fatal(err)
		}
		if v != got[i] {
			t.Fatalf("conversation c%d: pinned to %s, a fresh registry picks %s", i, got[i], v)
		}
	}
}
