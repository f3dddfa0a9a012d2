package server

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"healthcare/app/api"
)

// ContentSecurityPolicy is sent with every response: the UI loads only its own files. A route that
// needs more (the API docs viewer) sets its own header, which replaces this one.
const ContentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; font-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'"

const localRequestID = "server.request_id"

// RequestID returns the request's id (also sent back in the X-Request-ID header).
func RequestID(c *fiber.Ctx) string {
	id, _ := c.Locals(localRequestID).(string)
	return id
}

// requestID keeps a sane incoming X-Request-ID (so a proxy's id ties its logs to ours) or makes one.
func requestID(c *fiber.Ctx) error {
	setRequestID(c)
	return c.Next()
}

func setRequestID(c *fiber.Ctx) {
	id := c.Get(fiber.HeaderXRequestID)
	if !validRequestID(id) {
		id = newRequestID()
	} else {
		id = strings.Clone(id) // fasthttp reuses the header buffer after the request
	}
	c.Locals(localRequestID, id)
	c.Set(fiber.HeaderXRequestID, id)
}

// validRequestID accepts 1 to 64 characters of [A-Za-z0-9_-]: nothing that could forge a log line.
func validRequestID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		switch b := id[i]; {
		case b >= 'a' && b <= 'z', b >= 'A' && b <= 'Z', b >= '0' && b <= '9', b == '-', b == '_':
		default:
			return false
		}
	}
	return true
}

func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// securityHeaders are set before the handler runs, so error responses carry them too.
// HSTS is the Strict-Transport-Security value of HTTPS answers.
const HSTS = "max-age=31536000"

func securityHeaders(c *fiber.Ctx) error {
	setSecurityHeaders(c)
	return c.Next()
}

// PermissionsPolicy turns off the browser features the UI never uses, for its pages and anything
// that would frame or open them.
const PermissionsPolicy = "accelerometer=(), autoplay=(), camera=(), display-capture=(), geolocation=(), " +
	"gyroscope=(), magnetometer=(), microphone=(), midi=(), payment=(), usb=()"

// securityHeaderValues' names are already in canonical form, so that fasthttp need not normalise them
// for every response.
var securityHeaderValues = [][2][]byte{
	{[]byte(fiber.HeaderXContentTypeOptions), []byte("nosniff")},
	{[]byte(fiber.HeaderReferrerPolicy), []byte("no-referrer")},
	{[]byte(fiber.HeaderXFrameOptions), []byte("DENY")},
	{[]byte(fiber.HeaderContentSecurityPolicy), []byte(ContentSecurityPolicy)},
	{[]byte(fiber.HeaderPermissionsPolicy), []byte(PermissionsPolicy)},
	{[]byte("Cross-Origin-Opener-Policy"), []byte("same-origin")},
	{[]byte(fiber.HeaderCrossOriginResourcePolicy), []byte("same-origin")},
	// Every answer is uncacheable unless its route says otherwise (the UI's and the API
	// reference's files revalidate with their ETag): API answers hold patient data and tokens,
	// whatever the spelling of the path that reached them.
	{[]byte(fiber.HeaderCacheControl), []byte("no-store")},
}

func setSecurityHeaders(c *fiber.Ctx) {
	h := &c.Response().Header
	for _, kv := range securityHeaderValues {
		h.SetCanonical(kv[0], kv[1])
	}
	// Over HTTPS only (server.tls): browsers then refuse plain HTTP to this host for a year.
	// They ignore it on a connection with a certificate warning, so a self-signed certificate
	// not yet trusted never locks staff out.
	if c.Context().IsTLS() {
		c.Set(fiber.HeaderStrictTransportSecurity, HSTS)
	}
}

// accessLog writes one line per request: method, path without the query string (search terms may
// hold patient data), status, duration, bytes, request id and client address. Never bodies or
// headers. It runs the error handler itself so that the logged status is the one sent.
func accessLog(log *slog.Logger) fiber.Handler {
	return func(c *fiber.Ctx) error {
		start := time.Now()
		if err := c.Next(); err != nil {
			if herr := c.App().ErrorHandler(c, err); herr != nil {
				_ = c.SendStatus(fiber.StatusInternalServerError)
			}
		}
		logRequest(c, log, time.Since(start))
		return nil
	}
}

func logRequest(c *fiber.Ctx, log *slog.Logger, took time.Duration) {
	status := c.Response().StatusCode()
	path := c.Path()
	level := slog.LevelInfo
	switch {
	case status == fiber.StatusServiceUnavailable || status == fiber.StatusInsufficientStorage:
		level = slog.LevelWarn // the database is away or its disk full: the error handler logged why
	case status >= 500:
		level = slog.LevelError
	case path == "/healthz" || path == "/readyz":
		level = slog.LevelDebug // Docker's HEALTHCHECK asks every few seconds
	}
	log.LogAttrs(c.UserContext(), level, "request",
		slog.String("method", c.Method()),
		slog.String("path", path),
		slog.Int("status", status),
		slog.Float64("duration_ms", float64(took.Microseconds())/1000),
		slog.Int("bytes", answerSize(c.Response())),
		slog.String("request_id", RequestID(c)),
		slog.String("ip", api.ClientIP(c)),
	)
}

// answerSize is the size of the response's body without reading a streamed one (a backup's
// download, an export, a large answer under the send budget): Body() would read it all into
// memory, here, before it is sent. -1: a stream of unknown length (chunked).
func answerSize(resp *fasthttp.Response) int {
	if resp.IsBodyStream() {
		return resp.Header.ContentLength()
	}
	return len(resp.Body())
}

var errPanic = errors.New("a handler panicked")

// recoverPanics turns a handler's panic into the generic 500 and logs the stack; the client never
// sees it.
func recoverPanics(log *slog.Logger) fiber.Handler {
	return func(c *fiber.Ctx) (err error) {
		defer func() {
			if r := recover(); r != nil {
				log.Error("panic while handling a request", "method", c.Method(), "path", c.Path(),
					"request_id", RequestID(c), "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
				err = errPanic
			}
		}()
		return c.Next()
	}
}

// errorHandler wraps the API's error writer for errors raised before the middleware ran (fasthttp
// rejects oversized bodies and malformed requests itself): those responses get the same headers,
// JSON body and log line as any other.
func errorHandler(next fiber.ErrorHandler, log *slog.Logger) fiber.ErrorHandler {
	return func(c *fiber.Ctx, err error) error {
		if RequestID(c) != "" {
			return next(c, err)
		}
		c.Locals(api.LocalClientIP, parseProxies(c.App().Config().TrustedProxies).clientIP(c))
		setRequestID(c)
		setSecurityHeaders(c) // no-store included: fasthttp may have discarded the request
		herr := next(c, err)
		logRequest(c, log, 0)
		return herr
	}
}
