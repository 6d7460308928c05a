// Command gokeyring is a peer row of scripts/bench.sh: one bare go-keyring
// Get in a process of its own, what any Go helper that reads its cache from
// the Secret Service through go-keyring pays per call.
//
//	gokeyring SERVICE USER
package main

import (
	"fmt"
	"os"

	"github.com/zalando/go-keyring"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: gokeyring SERVICE USER")
		os.Exit(2)
	}
	s, err := keyring.Get(os.Args[1], os.Args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, "gokeyring:", err)
		os.Exit(1)
	}
	os.Stdout.WriteString(s + "\n")
}
