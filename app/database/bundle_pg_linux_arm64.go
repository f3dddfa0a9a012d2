//go:build bundle_pg

package database

import _ "embed"

// The PostgreSQL payload for this platform, made by 'go run ./release' (or
// 'go run ./release -pg-only -platforms linux/arm64'); see pgbundle/README.md.
var (
	//go:embed pgbundle/linux_arm64.tar.zst
	bundleData []byte
	//go:embed pgbundle/linux_arm64.json
	bundleMeta []byte
)

func init() { bundled = loadBundle(bundleMeta, bundleData) }
