//go:build !wasip1

package passerelle

// Outside the sandbox a Context always has a Host (App.Dispatch insists), so
// these are never reached.

func guestCall(importFunc, []byte) (Status, []byte) {
	panic("passerelle: host call without a Host outside the sandbox")
}

func guestLog(Level, string) {
	panic("passerelle: log without a Host outside the sandbox")
}
