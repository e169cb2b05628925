// Command gcload is the load-testing and conformance harness for SIP
// persistent group chat. See README.md.
package main

import (
	"os"

	"github.com/gcload/gcload/cmd/gcload/internal/cli"
)

func main() { os.Exit(cli.Main(cli.NewEnv())) }
