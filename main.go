// Command healthcare is the clinic appliance: one binary that serves the REST API and the admin UI,
// on its own embedded PostgreSQL or on yours.
package main

import (
	_ "embed"
	"os"

	"healthcare/app/cli"
	"healthcare/web"
)

//go:embed config.yaml
var defaults []byte

func main() {
	os.Exit(cli.Run(os.Args[1:], cli.Assets{Defaults: defaults, UI: web.FS()}))
}
