//go:build !no_ui

// Package web holds the browser admin UI: plain HTML, CSS and JavaScript modules, embedded into the
// binary. There is no build step; the vendored libraries under vendor/ are served as they are.
package web

import (
	"embed"
	"io/fs"
)

//go:embed index.html styles.css app.js favicon.svg js vendor
var files embed.FS

// FS returns the UI's files with index.html at the root. The server serves "/" as index.html and every
// other file by its path; the UI routes with the URL hash, so no fallback to index.html is needed.
func FS() fs.FS { return files }
