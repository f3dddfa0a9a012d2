package server

import (
	"bytes"
	"crypto/tls"
	"net"
	"sync"

	"github.com/gofiber/fiber/v2"

	"healthcare/app/api"
)

// fasthttp accepts requests that HTTP/1.1 servers should refuse: lines ending in a bare LF, and
// HTTP/1.1 requests without Host. A proxy in front may read such a request differently from us
// (request smuggling), so they are answered 400 and the connection is closed.

// Messages of the malformed-request 400s.
const (
	msgBareLF    = "Malformed request: every line of the request head must end with CRLF."
	msgNoHost    = "Malformed request: an HTTP/1.1 request needs a Host header."
	msgTwoHosts  = "Malformed request: a request may have only one Host header."
	msgBareCR    = "Malformed request: a CR in the request head must end its line (CRLF)."
	msgBodyFrame = "Malformed request: a request may not give both Content-Length and Transfer-Encoding, nor two different Content-Lengths."
	msgCoding    = "Malformed request: the only Transfer-Encoding accepted is chunked."
	msgNUL       = "Malformed request: a header may not hold a NUL character."
)

// wellFormed refuses the malformed requests fasthttp lets through. Header lines are checked in
// the parsed request; the request line, which fasthttp keeps no raw copy of, by strictConn.
func wellFormed(c *fiber.Ctx) error {
	h := &c.Request().Header
	bad := ""
	switch {
	case badRequestLine(c):
		bad = msgBareLF
	default:
		bad = headerFraming(h.RawHeaders())
		if bad == "" && h.IsHTTP11() && len(h.Host()) == 0 {
			bad = msgNoHost
		}
	}
	if bad == "" {
		return c.Next()
	}
	c.Set(fiber.HeaderConnection, "close")
	c.Context().SetConnectionClose()
	return api.Detail(fiber.StatusBadRequest, bad)
}

// headerFraming checks the header lines of a request head for what a proxy in front may read
// differently from fasthttp, which takes the last Host, the last Content-Length, and
// Transfer-Encoding over Content-Length (RFC 9112: 400 for each): a line not ended by CRLF (a
// bare LF or CR), two Host headers, a body framed twice, a Transfer-Encoding other than one
// chunked, a NUL. "" when there is none.
func headerFraming(raw []byte) string {
	hosts, te := 0, false
	var length []byte
	lengths := 0
	for len(raw) > 0 {
		line := raw
		if i := bytes.Index(raw, []byte("\r\n")); i >= 0 {
			line, raw = raw[:i], raw[i+2:]
		} else {
			raw = nil
		}
		if bytes.IndexByte(line, '\n') >= 0 {
			return msgBareLF
		}
		if bytes.IndexByte(line, '\r') >= 0 {
			return msgBareCR
		}
		if bytes.IndexByte(line, 0) >= 0 {
			return msgNUL
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		switch {
		case bytes.EqualFold(name, []byte("host")):
			hosts++
		case bytes.EqualFold(name, []byte("transfer-encoding")):
			if te || !bytes.EqualFold(bytes.TrimSpace(value), []byte("chunked")) {
				return msgCoding // identity, gzip, "chunked, identity"...: framed otherwise by a proxy
			}
			te = true
		case bytes.EqualFold(name, []byte("content-length")):
			value = bytes.TrimSpace(value)
			if lengths > 0 && !bytes.Equal(value, length) {
				return msgBodyFrame
			}
			length, lengths = value, lengths+1
		}
	}
	switch {
	case hosts > 1:
		return msgTwoHosts
	case te && lengths > 0:
		return msgBodyFrame
	}
	return ""
}

func badRequestLine(c *fiber.Ctx) bool {
	sc, ok := c.Context().Conn().(interface{ malformed() bool })
	return ok && sc.malformed()
}

// strictListener hands out strictConns.
type strictListener struct{ net.Listener }

// Accept wraps the next connection in a strictConn.
func (l strictListener) Accept() (net.Conn, error) {
	conn, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	sc := &strictConn{Conn: conn, atStart: true}
	if tc, ok := conn.(*tls.Conn); ok {
		return strictTLSConn{sc, tc}, nil
	}
	return sc, nil
}

// strictTLSConn is a strictConn over TLS (server.tls): it keeps the TLS connection's state visible,
// so that fasthttp knows the request came over HTTPS (c.Protocol(), HSTS).
type strictTLSConn struct {
	*strictConn
	tls *tls.Conn
}

func (c strictTLSConn) Handshake() error                     { return c.tls.Handshake() }
func (c strictTLSConn) ConnectionState() tls.ConnectionState { return c.tls.ConnectionState() }

// strictConn watches the bytes fasthttp reads for the end of each request line: the first line of
// the connection, and the first one after each response (not after an interim "100 Continue",
// which the request's body follows). A bare LF there marks the connection malformed for good.
// Pipelined requests (sent before the previous answer) are not watched; their header lines still are.
type strictConn struct {
	net.Conn

	mu      sync.Mutex
	atStart bool // the bytes read next begin a request (empty lines may come first)
	inLine  bool // within the request line
	cr      bool // the last byte read was CR
	bad     bool
}

func (c *strictConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.mu.Lock()
		c.scan(p[:n])
		c.mu.Unlock()
	}
	return n, err
}

func (c *strictConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	if !isInterim(p) {
		c.atStart, c.inLine, c.cr = true, false, false
	}
	c.mu.Unlock()
	return c.Conn.Write(p)
}

// scan follows the request line in b, as long as one is expected.
func (c *strictConn) scan(b []byte) {
	for _, ch := range b {
		if !c.atStart {
			return
		}
		switch ch {
		case '\n':
			if !c.cr {
				c.bad = true
			}
			if c.inLine { // the request line ended; an empty line before it may be skipped
				c.atStart = false
			}
			c.inLine, c.cr = false, false
		default:
			if c.cr { // a CR that did not end its line
				c.bad = true
			}
			if ch == '\r' {
				c.cr = true
			} else {
				c.inLine, c.cr = true, false
			}
		}
	}
}

func (c *strictConn) malformed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.bad
}

// isInterim reports whether p begins a 1xx response ("HTTP/1.1 100 Continue").
func isInterim(p []byte) bool {
	return len(p) > 9 && bytes.HasPrefix(p, []byte("HTTP/1.")) && p[9] == '1'
}
