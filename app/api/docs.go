package api

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"path"
	"strings"
	"sync"

	"github.com/gofiber/fiber/v2"
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

// staticFile is an embedded file with its headers precomputed, and a gzip copy made on first use
// (Swagger UI's bundle is 1.7 MB, about 0.5 MB gzipped).
type staticFile struct {
	body        []byte
	contentType string
	etag        string
	gzipOnce    sync.Once
	gz          []byte // nil when compression does not pay
}

// gzipped returns the compressed body, or nil.
func (f *staticFile) gzipped() []byte {
	f.gzipOnce.Do(func() {
		if len(f.body) < 1024 {
			return
		}
		var b bytes.Buffer
		w, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
		_, _ = w.Write(f.body)
		_ = w.Close()
		if b.Len() < len(f.body)*9/10 {
			f.gz = b.Bytes()
		}
	})
	return f.gz
}

func newStaticFile(body []byte, contentType string) *staticFile {
	sum := sha256.Sum256(body)
	return &staticFile{body: body, contentType: contentType, etag: `"` + hex.EncodeToString(sum[:16]) + `"`}
}

// send writes f with an ETag, answering 304 when the client already has it.
func (f *staticFile) send(c *fiber.Ctx, cacheControl string) error {
	body, etag := f.body, f.etag
	c.Vary(fiber.HeaderAcceptEncoding)
	if gz := f.gzipped(); gz != nil && acceptsGzip(c.Get(fiber.HeaderAcceptEncoding)) {
		// Each representation has its own strong tag.
		body, etag = gz, strings.TrimSuffix(f.etag, `"`)+`-gzip"`
		c.Set(fiber.HeaderContentEncoding, "gzip")
	}
	c.Set(fiber.HeaderETag, etag)
	c.Set(fiber.HeaderCacheControl, cacheControl)
	if etagMatches(c.Get(fiber.HeaderIfNoneMatch), etag) {
		c.Response().Header.Del(fiber.HeaderContentEncoding)
		return c.SendStatus(fiber.StatusNotModified)
	}
	c.Set(fiber.HeaderContentType, f.contentType)
	return c.Send(body)
}

// acceptsGzip reports whether an Accept-Encoding header allows gzip (q=0 refuses it).
func acceptsGzip(header string) bool {
	for _, part := range strings.Split(header, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(name), "gzip") {
			q := strings.ReplaceAll(strings.TrimSpace(params), " ", "")
			return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
		}
	}
	return false
}

// etagMatches implements If-None-Match's weak comparison over a list of tags.
func etagMatches(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == etag || t == "*" {
			return true
		}
	}
	return false
}

// docsAssets are the files served under /api/docs/, by name; the page itself is /api/docs.
var docsPage, openAPIFile, docsAssets = func() (*staticFile, *staticFile, map[string]*staticFile) {
	types := map[string]string{
		".js":  "text/javascript; charset=utf-8",
		".css": "text/css; charset=utf-8",
		"":     "text/plain; charset=utf-8", // LICENSE, NOTICE, VERSION
		".txt": "text/plain; charset=utf-8",
	}
	entries, err := docsUI.ReadDir("docsui")
	if err != nil {
		panic(err) // the directory is embedded at build time; this cannot fail
	}
	assets := map[string]*staticFile{}
	var page *staticFile
	for _, e := range entries {
		body, err := docsUI.ReadFile("docsui/" + e.Name())
		if err != nil {
			panic(err)
		}
		if e.Name() == "index.html" {
			page = newStaticFile(body, "text/html; charset=utf-8")
			continue
		}
		ct, ok := types[path.Ext(e.Name())]
		if !ok {
			continue
		}
		assets[e.Name()] = newStaticFile(body, ct)
	}
	return page, newStaticFile(OpenAPIDocument, fiber.MIMEApplicationJSON), assets
}()

// docsRoutes mounts the public documentation: the OpenAPI document and the API reference page
// rendered from it by the vendored Swagger UI (no CDN, no inline script).
func (a *API) docsRoutes(r fiber.Router) {
	// no-cache: clients revalidate with the ETag, so a new build's document is seen at once.
	r.Get("/openapi.json", func(c *fiber.Ctx) error {
		return openAPIFile.send(c, "no-cache")
	})
	r.Get("/docs", func(c *fiber.Ctx) error {
		c.Set(fiber.HeaderContentSecurityPolicy, docsCSP)
		return docsPage.send(c, "no-cache")
	})
	r.Get("/docs/:asset", func(c *fiber.Ctx) error {
		f, ok := docsAssets[c.Params("asset")]
		if !ok {
			return NotFound()
		}
		return f.send(c, "public, max-age=3600")
	})
}
