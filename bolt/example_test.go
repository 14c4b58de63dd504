package bolt_test

import (
	"fmt"

	"github.com/passerelle/passerelle/bolt"
)

// A key of a person's conversation: every key of the person sorts together,
// so a cursor finds them all from the prefix Key(person, "").
func ExampleKey() {
	fmt.Printf("%q\n", bolt.Key("alice", "d_42"))
	fmt.Printf("%q\n", bolt.Key("alice", ""))
	// Output:
	// "alice\x00d_42"
	// "alice\x00"
}
