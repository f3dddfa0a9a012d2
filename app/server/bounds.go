package server

import (
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
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
		a, err := netip.ParseAddr(strings.TrimSpace(entries[i]))
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

// clientAddress puts the client's address into the request's Locals for the API and the log.
func clientAddress(ps proxies) fiber.Handler {
	return func(c *fiber.Ctx) error {
		c.Locals(api.LocalClientIP, ps.clientIP(c))
		return c.Next()
	}
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
	if name, _, err := net.SplitHostPort(host); err == nil {
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

// LimitPerAddress wraps ln so that one client address (an IPv6 one's /64) holds at most limit
// connections at once (server.max_connections_per_address; 0: ln unchanged). A connection beyond
// it is answered 429 and closed before any of its bytes are read. (fasthttp's own MaxConnsPerIP closes a connection
// twice when the server shuts down with connections open, and crashes.)
func LimitPerAddress(ln net.Listener, limit int) net.Listener {
	if limit <= 0 {
		return ln
	}
	return &perAddress{Listener: ln, limit: limit, open: map[string]int{}}
}

type perAddress struct {
	net.Listener
	limit int
	mu    sync.Mutex
	open  map[string]int // by auth.AddressGroup
}

var tooManyConnections = func() string {
	body := `{"detail":"Too many connections from your address."}`
	return "HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\nConnection: close\r\n" +
		"Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
}()

func (l *perAddress) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ap, _ := netip.ParseAddrPort(c.RemoteAddr().String())
		a := auth.AddressGroup(ap.Addr().String()) // an IPv6 host can pick any address of its /64
		l.mu.Lock()
		over := l.open[a] >= l.limit
		if !over {
			l.open[a]++
		}
		l.mu.Unlock()
		if !over {
			return &countedConn{Conn: c, release: func() { l.release(a) }}, nil
		}
		go func() { // never let a refused client slow the accept loop down
			_ = c.SetWriteDeadline(time.Now().Add(time.Second))
			_, _ = c.Write([]byte(tooManyConnections))
			_ = c.Close()
		}()
	}
}

func (l *perAddress) release(a string) {
	l.mu.Lock()
	if l.open[a]--; l.open[a] <= 0 {
		delete(l.open, a)
	}
	l.mu.Unlock()
}

// countedConn gives its address's slot back once, however often it is closed.
type countedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *countedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
