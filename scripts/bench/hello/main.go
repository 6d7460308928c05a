// Command hello is the floor of scripts/bench.sh: the cheapest Go program,
// built the same way as dt-credential-helper.
package main

import "os"

func main() { os.Stdout.WriteString("hello\n") }
