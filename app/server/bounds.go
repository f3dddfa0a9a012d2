package server

import (
	"bytes"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"

	"healthcare/app/api"
	"healthcare/app/auth"
	"healthcare/app/config"
)

// proxies is server.trusted_proxies, parsed.
type proxies []netip.Prefix

func parseProxies(list []string) proxies {
	var ps proxies
	for _, s := range list {
		if p, err := netip.ParsePrefix(s); err == nil {
			ps = append(ps, p.Masked())
		} else if a, err := netip.ParseAddr(s); err == nil {
			ps = append(ps, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
		}
	}
	return ps
}

func (ps proxies) trusted(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// clientIP is the address rate limits and logs use: the TCP peer, unless the peer is a trusted
// proxy; then the right-most X-Forwarded-For entry that is not itself a trusted proxy. Each proxy
// appends the address it received the request from, so entries left of that one were written by
// the client and prove nothing (a client sending "X-Forwarded-For: 1.2.3.4" must not get a fresh
// rate-limit bucket per forged value).
func (ps proxies) clientIP(c *fiber.Ctx) string {
	peer, ok := netip.AddrFromSlice(c.Context().RemoteIP())
	if !ok {
		return c.Context().RemoteIP().String()
	}
	peer = peer.Unmap()
	if len(ps) == 0 || !ps.trusted(peer) {
		return peer.String()
	}
	client := peer
	var values [][]byte
	c.Request().Header.VisitAll(func(k, v []byte) {
		if strings.EqualFold(string(k), fiber.HeaderXForwardedFor) {
			values = append(values, v)
		}
	})
	// Several X-Forwarded-For headers are one list, in order.
	entries := strings.Split(string(joinValues(values)), ",")
	for i := len(entries) - 1; i >= 0; i-- {
		entry := strings.TrimSpace(entries[i])
		a, err := netip.ParseAddr(entry)
		if ap, perr := netip.ParseAddrPort(entry); err != nil && perr == nil {
			a, err = ap.Addr(), nil // some proxies append the client's port ("203.0.113.7:51234")
		}
		if err != nil || a.Zone() != "" {
			// Garbage: nothing left of it can be trusted either. A zone ("fe80::1%eth0") names a
			// link of the sender's own machine, and is any bytes it likes.
			break
		}
		client = a.Unmap()
		if !ps.trusted(client) {
			break
		}
	}
	return client.String()
}

func joinValues(vs [][]byte) []byte {
	var b []byte
	for i, v := range vs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, v...)
	}
	return b
}

// clientAddress puts the client's address into the request's Locals for the API and the log, and
// drops a forwarded scheme other than http or https: Fiber believes a trusted proxy's header as
// it stands, and the scheme goes into the API root's and Link headers' URLs.
func clientAddress(ps proxies) fiber.Handler {
	return func(c *fiber.Ctx) error {
		c.Locals(api.LocalClientIP, ps.clientIP(c))
		if len(ps) > 0 {
			h := &c.Request().Header
			var insane []string
			h.VisitAll(func(k, v []byte) {
				for _, name := range forwardedScheme {
					if string(k) == name && !saneScheme(v, name != fiber.HeaderXUrlScheme) {
						insane = append(insane, name)
					}
				}
			})
			for _, name := range insane {
				h.Del(name)
			}
		}
		return c.Next()
	}
}

// forwardedScheme are the headers Fiber's Protocol() reads from a trusted proxy (the last one
// wins, taken as it stands: X-Forwarded-Proto's and -Protocol's value up to a comma, X-Url-Scheme's
// whole).
var forwardedScheme = []string{fiber.HeaderXForwardedProto, fiber.HeaderXForwardedProtocol, fiber.HeaderXUrlScheme}

func saneScheme(v []byte, upToComma bool) bool {
	if upToComma {
		v, _, _ = bytes.Cut(v, []byte(","))
	}
	return string(v) == "http" || string(v) == "https"
}

// hosts is the Host allow-list of the API (server.allowed_hosts): against DNS rebinding, where a
// page from another site resolves its own name to 127.0.0.1 and talks to a loopback-bound server
// under that name. IP addresses, localhost and this machine's names are always accepted.
type hosts struct {
	any      bool
	names    map[string]bool
	suffixes []string // ".example.org": the domain and its subdomains
}

func newHosts(cfg *config.Config) *hosts {
	h := &hosts{names: map[string]bool{"localhost": true}}
	add := func(name string) {
		name = strings.TrimSuffix(strings.ToLower(name), ".")
		switch {
		case name == "*":
			h.any = true
		case strings.HasPrefix(name, "."):
			h.suffixes = append(h.suffixes, name)
		case name != "":
			h.names[name] = true
		}
	}
	if name, err := os.Hostname(); err == nil {
		add(name)
		if short, _, ok := strings.Cut(name, "."); ok {
			add(short)
		}
	}
	if host, _, err := net.SplitHostPort(cfg.Server.Addr); err == nil && net.ParseIP(host) == nil {
		add(host) // listening on a name
	}
	for _, name := range cfg.Server.AllowedHosts {
		add(name)
	}
	return h
}

func (h *hosts) allowed(host string) bool {
	if h.any || host == "" {
		return true
	}
	if strings.ContainsAny(host, "@/\\") {
		return false // userinfo or a path: URLs built from it would point elsewhere
	}
	if name, port, err := net.SplitHostPort(host); err == nil {
		if _, err := strconv.ParseUint(port, 10, 16); err != nil {
			return false
		}
		host = name
	}
	host = strings.TrimSuffix(strings.ToLower(strings.Trim(host, "[]")), ".")
	if _, err := netip.ParseAddr(host); err == nil {
		return true // an address cannot be rebound
	}
	if h.names[host] {
		return true
	}
	for _, s := range h.suffixes {
		if host == s[1:] || strings.HasSuffix(host, s) {
			return true
		}
	}
	return false
}

// msgBadHost is the answer to a Host that is not allowed (Django's DisallowedHost is a 400 too).
const msgBadHost = "Invalid Host header: add the name to server.allowed_hosts."

// checkHost refuses API requests for a host name that is not allowed, before anything else runs:
// the name would otherwise be reflected into the API root's and Link headers' URLs.
func (h *hosts) checkHost(c *fiber.Ctx) error {
	if p := c.Path(); p == "/api" || strings.HasPrefix(p, "/api/") {
		if !h.allowed(string(c.Request().Host())) || !h.allowed(c.Hostname()) {
			return c.Status(fiber.StatusBadRequest).JSON(fiber.Map{"detail": msgBadHost})
		}
	}
	return c.Next()
}

// LimitConnections wraps ln so that at most total connections are open at once
// (server.max_connections) and one client address (an IPv6 one's /64) holds at most perAddress of
// them (server.max_connections_per_address); 0 is no limit. A connection beyond either is answered
// (503 with Retry-After, or 429) and closed before any of its bytes are read, and a warning is
// logged (once a minute at most). While more than 3/4 of total are open, connections idle for
// more than idleUnderPressure (keep-alive connections waiting for a next request, or that never
// sent one) are closed: idle connections cannot keep other clients out. (fasthttp's own
// MaxConnsPerIP closes a connection twice when the server shuts down with connections open, and
// crashes; its Concurrency answers in plain text.)
func LimitConnections(ln net.Listener, total, perAddress int, log *slog.Logger) net.Listener {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &connLimits{Listener: ln, total: total, perAddress: perAddress, log: log,
		open: map[string]int{}, conns: map[*countedConn]struct{}{}, refused: map[string]*refusals{}}
}

// idleUnderPressure is how long a connection may sit idle while the server is near its
// connection limit. Browsers and HTTP clients open a new connection (and retry an idempotent
// request) when a kept-alive one was closed.
const idleUnderPressure = 2 * time.Second

type connLimits struct {
	net.Listener
	total, perAddress int
	log               *slog.Logger

	mu      sync.Mutex
	open    map[string]int // by auth.AddressGroup
	conns   map[*countedConn]struct{}
	reaped  time.Time            // the last look for idle connections
	refused map[string]*refusals // by reason
}

// refusals are the connections refused for one reason since its last warning.
type refusals struct {
	warned time.Time
	n      int
}

func refusal(status, body string, retryAfter bool) []byte {
	h := "HTTP/1.1 " + status + "\r\nContent-Type: application/json\r\nConnection: close\r\n"
	if retryAfter {
		h += "Retry-After: " + strconv.Itoa(api.RetryAfter) + "\r\n"
	}
	return []byte(h + "Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body)
}

var (
	tooManyConnections = refusal("429 Too Many Requests", `{"detail":"Too many connections from your address."}`, false)
	serverFull         = refusal("503 Service Unavailable", `{"detail":"The server has too many connections open: try again in a few seconds."}`, true)
)

func (l *connLimits) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ap, _ := netip.ParseAddrPort(c.RemoteAddr().String())
		a := auth.AddressGroup(ap.Addr().String()) // an IPv6 host can pick any address of its /64
		now := time.Now()
		l.mu.Lock()
		if l.total > 0 && len(l.conns) >= l.total*3/4 && now.Sub(l.reaped) >= idleUnderPressure/4 {
			l.reaped = now
			var idle []*countedConn
			for cc := range l.conns {
				if cc.idleSince(now) >= idleUnderPressure {
					idle = append(idle, cc)
				}
			}
			l.mu.Unlock()
			for _, cc := range idle { // Close gives the slot back (under l.mu): before this client is counted
				_ = cc.Close()
			}
			l.mu.Lock()
		}
		var answer []byte
		switch {
		case l.perAddress > 0 && l.open[a] >= l.perAddress:
			answer = tooManyConnections
			l.noteRefusal(now, "an address reached server.max_connections_per_address", a)
		case l.total > 0 && len(l.conns) >= l.total:
			answer = serverFull
			l.noteRefusal(now, "server.max_connections reached", a)
		default:
			l.open[a]++
			cc := &countedConn{Conn: c, lastActive: now.UnixNano()}
			cc.release = func() { l.release(a, cc) }
			l.conns[cc] = struct{}{}
			l.mu.Unlock()
			return cc, nil
		}
		l.mu.Unlock()
		go func() { // never let a refused client slow the accept loop down
			_ = c.SetWriteDeadline(time.Now().Add(time.Second))
			_, _ = c.Write(answer)
			_ = c.Close()
		}()
	}
}

// noteRefusal logs refused connections, at most once a minute per reason (an attack must not
// flood the log).
func (l *connLimits) noteRefusal(now time.Time, what, addr string) {
	r := l.refused[what]
	if r == nil {
		r = &refusals{}
		l.refused[what] = r
	}
	r.n++
	if !r.warned.IsZero() && now.Sub(r.warned) < time.Minute {
		return
	}
	l.log.Warn("connections refused: "+what, "refused", r.n, "last_client", addr, "open", len(l.conns))
	r.warned, r.n = now, 0
}

func (l *connLimits) release(a string, cc *countedConn) {
	l.mu.Lock()
	if l.open[a]--; l.open[a] <= 0 {
		delete(l.open, a)
	}
	delete(l.conns, cc)
	l.mu.Unlock()
}

// countedConn gives its slots back once, however often it is closed, and knows how long it has
// been idle: since its last write (an answer sent) or its opening, with nothing read since.
type countedConn struct {
	net.Conn
	once       sync.Once
	release    func()
	lastActive int64 // unix nanoseconds of the last write or accept; 0 while reading a request or writing
}

func (c *countedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		atomic.StoreInt64(&c.lastActive, 0)
	}
	return n, err
}

func (c *countedConn) Write(p []byte) (int, error) {
	atomic.StoreInt64(&c.lastActive, 0) // a write blocked on a slow reader is not idleness
	n, err := c.Conn.Write(p)
	atomic.StoreInt64(&c.lastActive, time.Now().UnixNano())
	return n, err
}

func (c *countedConn) idleSince(now time.Time) time.Duration {
	t := atomic.LoadInt64(&c.lastActive)
	if t == 0 {
		return 0
	}
	return now.Sub(time.Unix(0, t))
}

func (c *countedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
