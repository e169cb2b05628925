// Command gcload is the load-testing and conformance harness for SIP
// persistent group chat. See README.md.
package main

import (
	"os"

	"github.com/gcload/gcload/cmd/gcload/internal/cli"
	"github.com/gcload/gcload/refserver/embedded"
)

func main() {
	// a server of an embedded pool (gcload run with target.embedded.pool)
	// is gcload run again
	if embedded.PoolChild() {
		return
	}
	os.Exit(cli.Main(cli.NewEnv()))
}
