// Command healthcare is the clinic appliance: one binary that serves the REST API and the admin UI,
// on its own embedded PostgreSQL or on yours.
package main

import (
	_ "embed"
	"os"
	"runtime"
	"strings"

	"healthcare/app/cli"
	"healthcare/web"
)

//go:embed config.yaml
var defaults []byte

func main() {
	// No heap profile unless asked for (serve --pprof turns it back on): its table of call stacks
	// kept about 1.5 MB of an idle server's memory.
	if !strings.Contains(os.Getenv("GODEBUG"), "memprofilerate") {
		runtime.MemProfileRate = 0
	}
	os.Exit(cli.Run(os.Args[1:], cli.Assets{Defaults: defaults, UI: web.FS()}))
}
