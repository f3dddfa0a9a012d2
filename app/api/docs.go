package api

import (
	"embed"
	"path"

	"github.com/gofiber/fiber/v2"

	"healthcare/app/static"
)

// OpenAPIDocument is the OpenAPI 3.1 description of every route, served at /api/openapi.json and
// used by the test harness (apitest) to validate every request and response the tests make.
//
//go:embed openapi.json
var OpenAPIDocument []byte

// docsUI holds the API reference page: our index.html, init.js and docs.css, and the vendored
// swagger-ui-dist files (see docsui/VERSION).
//
//go:embed docsui
var docsUI embed.FS

// docsCSP is the API reference page's policy: the server's strict script-src/style-src 'self',
// plus data: images, which Swagger UI's stylesheet uses for its icons.
const docsCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// docsAssets are the files served under /api/docs/, by name; the page itself is /api/docs.
var docsPage, openAPIFile, docsAssets = func() (*static.File, *static.File, map[string]*static.File) {
	served := map[string]bool{".js": true, ".css": true, ".txt": true, "": true} // "": LICENSE, NOTICE, VERSION
	entries, err := docsUI.ReadDir("docsui")
	if err != nil {
		panic(err) // the directory is embedded at build time; this cannot fail
	}
	assets := map[string]*static.File{}
	var page *static.File
	for _, e := range entries {
		f := static.Open(docsUI, "docsui/"+e.Name())
		if e.Name() == "index.html" {
			page = f
			continue
		}
		if served[path.Ext(e.Name())] {
			assets[e.Name()] = f
		}
	}
	return page, static.NewTyped(OpenAPIDocument, fiber.MIMEApplicationJSON), assets
}()

// docsRoutes mounts the public documentation: the OpenAPI document and the API reference page
// rendered from it by the vendored Swagger UI (no CDN, no inline script).
func (a *API) docsRoutes(r fiber.Router) {
	// no-cache: clients revalidate with the ETag, so a new build's document is seen at once.
	r.Get("/openapi.json", func(c *fiber.Ctx) error {
		return openAPIFile.Send(c, "no-cache")
	})
	r.Get("/docs", func(c *fiber.Ctx) error {
		c.Set(fiber.HeaderContentSecurityPolicy, docsCSP)
		return docsPage.Send(c, "no-cache")
	})
	r.Get("/docs/:asset", func(c *fiber.Ctx) error {
		f, ok := docsAssets[c.Params("asset")]
		if !ok {
			return NotFound()
		}
		return f.Send(c, "public, max-age=3600")
	})
}
