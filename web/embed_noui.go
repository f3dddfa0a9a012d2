//go:build no_ui

// Package web holds the browser admin UI. This file is compiled into headless binaries (the no_ui
// build tag), which carry no UI files.
package web

import "io/fs"

// FS returns nil: a binary built with the no_ui tag serves only the JSON API.
func FS() fs.FS { return nil }
