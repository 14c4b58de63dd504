package registry_test

import (
	"fmt"
	"testing"

	"github.com/passerelle/passerelle/runtime/registry"
)

// BenchmarkPick measures routing one event of a conversation already
// pinned (the common case: one read transaction).
func BenchmarkPick(b *testing.B) {
	db := openDB(b)
	r := open(b, db, registry.Options{})
	for _, v := range []string{"1", "2"} {
		if _, _, err := r.Add("m", "u", manifest("shop", v), []byte("x")); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := r.Promote("shop", "2", 30); err != nil {
		b.Fatal(err)
	}
	for i := range 100 {
		r.Pick("shop", fmt.Sprint("p", i), fmt.Sprint("c", i))
	}
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		if _, _, err := r.Pick("shop", "p7", "c7"); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkBucket(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		registry.Bucket("shop", "person-1234567")
	}
}
