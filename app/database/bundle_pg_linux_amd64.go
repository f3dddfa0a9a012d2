//go:build bundle_pg

package database

import _ "embed"

// The PostgreSQL payload for this platform, made by 'go run ./release' (or
// 'go run ./release -pg-only -platforms linux/amd64'); see pgbundle/README.md.
var (
	//go:embed pgbundle/linux_amd64.tar.zst
	bundleData []byte
	//go:embed pgbundle/linux_amd64.json
	bundleMeta []byte
)

func init() { bundled = loadBundle(bundleMeta, bundleData) }
