//go:build !wasip1

package main

import (
	"fmt"
	"os"
)

// main exists so that the package builds natively, where its tests run it
// with sdktest. The app itself only runs inside the platform's sandbox.
func main() {
	fmt.Fprintln(os.Stderr, "lunch is a mini-app: build it with `passerelle app build miniapps/lunch` and run it with `passerelle demo`")
	os.Exit(2)
}
