// Command hello-stdin is the floor of the stdin rows of scripts/bench.sh (git
// get, docker get and their peers): hello, built the same way, that first
// reads its standard input to the end, as a credential helper reads its
// request.
package main

import (
	"io"
	"os"
)

func main() {
	if _, err := io.Copy(io.Discard, os.Stdin); err != nil {
		os.Exit(1)
	}
	os.Stdout.WriteString("hello\n")
}
