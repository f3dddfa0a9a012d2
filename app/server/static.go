package server

import (
	"io/fs"
	"strings"

	"github.com/gofiber/fiber/v2"

	"healthcare/app/static"
)

// mountUI serves every file of ui at its path, and index.html at "/". Each file is read once, at
// its first request, and carries an ETag of its content so browsers revalidate cheaply
// (Cache-Control: no-cache). Unknown paths fall through to the JSON 404: the UI routes with the URL hash, so it
// needs no fallback to index.html, and nothing under /api is ever the UI.
func mountUI(app *fiber.App, ui fs.FS) error {
	if ui == nil {
		return nil
	}
	return fs.WalkDir(ui, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		// Fiber would read these characters as route parameters; the UI has no such names.
		if strings.ContainsAny(p, ":*+?") || p == "api" || strings.HasPrefix(p, "api/") {
			return nil
		}
		h := fileHandler(static.Open(ui, p))
		app.Get("/"+p, h)
		if p == "index.html" {
			app.Get("/", h)
		}
		return nil
	})
}

func fileHandler(f *static.File) fiber.Handler {
	return func(c *fiber.Ctx) error { return f.Send(c, "no-cache") }
}
