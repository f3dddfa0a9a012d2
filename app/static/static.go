// Package static serves embedded files (the admin UI, the API reference): content type and ETag
// computed once, a gzip copy when it pays, and 304 answers to If-None-Match.
package static

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"sync"

	"github.com/gofiber/fiber/v2"
)

// File is one embedded file with its headers computed on its first request: an embedded file
// stays in the binary's read-only pages until somebody asks for it (the API reference's 1.9 MB
// were read, copied and hashed at every start before, and stayed in the server's memory).
type File struct {
	name  string
	load  func() ([]byte, error)
	ctype string // "" → from the name, else from the content

	once     sync.Once
	body     []byte
	etag     string
	err      error
	gzipOnce sync.Once
	gz       []byte // nil when compression does not pay
}

// New returns the file named name (its extension gives the content type).
func New(name string, body []byte) *File {
	return &File{name: name, load: func() ([]byte, error) { return body, nil }}
}

// NewTyped returns a file with an explicit content type.
func NewTyped(body []byte, contentType string) *File {
	return &File{load: func() ([]byte, error) { return body, nil }, ctype: contentType}
}

// Open returns the file at name in fsys, read on its first request.
func Open(fsys fs.FS, name string) *File {
	return &File{name: name, load: func() ([]byte, error) { return fs.ReadFile(fsys, name) }}
}

// prepare reads the body and computes its type and ETag, once.
func (f *File) prepare() {
	f.once.Do(func() {
		if f.body, f.err = f.load(); f.err != nil {
			return
		}
		if f.ctype == "" {
			f.ctype = types[strings.ToLower(path.Ext(f.name))]
		}
		if f.ctype == "" {
			f.ctype = mime.TypeByExtension(path.Ext(f.name))
		}
		if f.ctype == "" {
			f.ctype = http.DetectContentType(f.body)
		}
		sum := sha256.Sum256(f.body)
		f.etag = `"` + hex.EncodeToString(sum[:16]) + `"`
	})
}

// types fixes the types a browser is strict about (module scripts, stylesheets), whatever the
// machine's /etc/mime.types says.
var types = map[string]string{
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
	"":       "text/plain; charset=utf-8", // LICENSE, NOTICE, VERSION
}

// gzipped returns the compressed body (made on first use), or nil when it would not be smaller.
func (f *File) gzipped() []byte {
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

// Send writes f with an ETag and cacheControl, gzipped when the client accepts it, and answers
// 304 when the client already has this representation.
func (f *File) Send(c *fiber.Ctx, cacheControl string) error {
	if f.prepare(); f.err != nil {
		return f.err
	}
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
	c.Set(fiber.HeaderContentType, f.ctype)
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

// etagMatches implements If-None-Match's weak comparison over a list of tags, or "*".
func etagMatches(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == etag || t == "*" {
			return true
		}
	}
	return false
}
