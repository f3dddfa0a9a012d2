package database

import "runtime"

// localeArgs are initdb's locale options for a new cluster of PostgreSQL major. Linux's C
// library has the C.UTF-8 locale; macOS and Windows do not, so there PostgreSQL 17's own
// builtin C.UTF-8 locale (Unicode case mapping, code-point order) is used, the operating
// system's locale staying plain C.
func localeArgs(major int) []string {
	if runtime.GOOS == "linux" {
		return []string{"--locale=C.UTF-8"}
	}
	if major >= 17 {
		return []string{"--locale=C", "--locale-provider=builtin", "--builtin-locale=C.UTF-8"}
	}
	return []string{"--locale=C"}
}
