// Gen writes sdk/goproxy/sdk.zip, the Go SDK module the passerelle binary
// carries, from the sources in sdk/go. Run it with
//
//	go generate ./sdk/goproxy
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/passerelle/passerelle/sdk/goproxy"
)

func main() {
	// go generate runs in sdk/goproxy.
	z, err := goproxy.Zip(filepath.Join("..", "go"))
	if err == nil {
		err = os.WriteFile("sdk.zip", z, 0o644)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
	m, err := goproxy.Read(z)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "gen: wrote sdk.zip, %s@%s, %d bytes\n", goproxy.Path, m.Version, len(z))
}
