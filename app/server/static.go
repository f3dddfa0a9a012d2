package server

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// mountUI serves every file of ui at its path, and index.html at "/". Each file is read once, at
// start, and carries an ETag of its content so browsers revalidate cheaply (Cache-Control:
// no-cache). Unknown paths fall through to the JSON 404: the UI routes with the URL hash, so it
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
		body, err := fs.ReadFile(ui, p)
		if err != nil {
			return fmt.Errorf("read %s: %w", p, err)
		}
		h := fileHandler(p, body)
		app.Get("/"+p, h)
		if p == "index.html" {
			app.Get("/", h)
		}
		return nil
	})
}

func fileHandler(name string, body []byte) fiber.Handler {
	sum := sha256.Sum256(body)
	etag := `"` + hex.EncodeToString(sum[:12]) + `"`
	ctype := webTypes[strings.ToLower(path.Ext(name))]
	if ctype == "" {
		ctype = mime.TypeByExtension(path.Ext(name))
	}
	if ctype == "" {
		ctype = http.DetectContentType(body)
	}
	return func(c *fiber.Ctx) error {
		c.Set(fiber.HeaderETag, etag)
		c.Set(fiber.HeaderCacheControl, "no-cache")
		if etagMatches(c.Get(fiber.HeaderIfNoneMatch), etag) {
			c.Status(fiber.StatusNotModified)
			return nil
		}
		c.Set(fiber.HeaderContentType, ctype)
		return c.Send(body)
	}
}

// webTypes fixes the types a browser is strict about (module scripts, stylesheets), whatever the
// machine's /etc/mime.types says.
var webTypes = map[string]string{
	".html":  "text/html; charset=utf-8",
	".js":    "text/javascript; charset=utf-8",
	".mjs":   "text/javascript; charset=utf-8",
	".css":   "text/css; charset=utf-8",
	".json":  "application/json",
	".map":   "application/json",
	".svg":   "image/svg+xml",
	".png":   "image/png",
	".ico":   "image/x-icon",
	".woff2": "font/woff2",
	".txt":   "text/plain; charset=utf-8",
	".md":    "text/markdown; charset=utf-8",
}

// etagMatches implements If-None-Match: a list of (possibly weak) tags, or "*".
func etagMatches(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == etag || t == "*" {
			return true
		}
	}
	return false
}
