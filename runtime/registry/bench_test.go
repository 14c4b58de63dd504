package registry_test

import (
	"fmt"
	"sync/atomic"
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

// BenchmarkPickNewConversations measures pinning conversations that many
// people open at once (each op is one new conversation's first event,
// from concurrent callers, on a store synced at every commit).
//
//	go test -run '^$' -bench PickNew -cpu 2 -count 3 ./runtime/registry/
func BenchmarkPickNewConversations(b *testing.B) {
	db := openDB(b)
	r := open(b, db, registry.Options{})
	if _, _, err := r.Add("m", "u", manifest("shop", "1"), []byte("x")); err != nil {
		b.Fatal(err)
	}
	var n atomic.Int64
	b.SetParallelism(64)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			if _, _, err := r.Pick("shop", fmt.Sprint("p", i), fmt.Sprint("c", i)); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
