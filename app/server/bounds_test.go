package server

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"healthcare/app/config"
)

// dialFrom opens a raw connection to base's host from the local address from (a 127.0.0.0/8
// address: every one of them is loopback on Linux, so tests can be several clients).
func dialFrom(t *testing.T, base, from string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 10 * time.Second}
	c, err := d.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// statusOf reads one response's status code from c (0 when the server closed without one).
func statusOf(t *testing.T, c net.Conn) int {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// getFrom sends GET path from the address from on a new connection and returns the status.
func getFrom(t *testing.T, base, from, path string) int {
	t.Helper()
	c := dialFrom(t, base, from)
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", path)
	return statusOf(t, c)
}

// announce sends the headers of a POST whose body of n bytes never comes.
func announce(c net.Conn, n int) {
	fmt.Fprintf(c, "POST /api/auth/login/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", n)
}

// TestBodyAnnouncedTooLarge: a body announced above server.body_limit is refused from its headers
// (413), without waiting for it or reserving memory for it.
func TestBodyAnnouncedTooLarge(t *testing.T) {
	t.Parallel()
	app, _ := newApp(t)
	base := serve(t, app)
	c := dialFrom(t, base, "127.0.0.1")
	announce(c, 1_000_000)
	if got := statusOf(t, c); got != 413 {
		t.Fatalf("1 MB announced, nothing sent: %d, want 413", got)
	}
}

// TestStalledBodiesAreBounded: hundreds of connections that announce a body (within the limit)
// and never send it hold little memory, another client is served meanwhile, and read_timeout
// closes them.
func TestStalledBodiesAreBounded(t *testing.T) {
	app, _ := newApp(t, func(c *config.Config) {
		c.Server.BodyLimit = 16384
		c.Server.ReadTimeout = 2 * time.Second
		c.Server.MaxConnectionsPerAddress = 0
	})
	base := serve(t, app)
	runtime.GC()
	var before, during runtime.MemStats
	runtime.ReadMemStats(&before)
	const n = 400
	conns := make([]net.Conn, n)
	for i := range conns {
		conns[i] = dialFrom(t, base, "127.0.0.3")
		announce(conns[i], 16000)
	}
	// Every connection has reached the server once a request sent after them is answered.
	if got := getFrom(t, base, "127.0.0.4", "/healthz"); got != 200 {
		t.Fatalf("another client during the stall: %d, want 200", got)
	}
	runtime.ReadMemStats(&during)
	grew := int64(during.HeapInuse) - int64(before.HeapInuse)
	t.Logf("%d stalled bodies: heap in use grew by %d KiB", n, grew>>10)
	if grew > 48<<20 {
		t.Errorf("%d stalled bodies took %d MiB of heap; want well under 1 MiB each", n, grew>>20)
	}
	// read_timeout ends them: each connection gets an answer or is closed, never held forever.
	for i, c := range conns {
		_ = c.SetReadDeadline(time.Now().Add(60 * time.Second))
		if _, err := io.ReadAll(c); err != nil {
			t.Fatalf("stalled connection %d was not closed by the server: %v", i, err)
		}
	}
}

// TestConnectionsPerAddress: one address gets at most max_connections_per_address connections
// (429 beyond); another address is still served.
func TestConnectionsPerAddress(t *testing.T) {
	t.Parallel()
	app, _ := newApp(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := serveOn(t, app, LimitConnections(ln, 1024, 5, nil))
	var conns []net.Conn
	for i := 0; i < 5; i++ {
		c := dialFrom(t, base, "127.0.0.5")
		conns = append(conns, c)
		fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n") // kept alive afterwards
		if got := statusOf(t, c); got != 200 {
			t.Fatalf("connection %d: %d", i, got)
		}
	}
	if got := getFrom(t, base, "127.0.0.5", "/healthz"); got != 429 {
		t.Errorf("6th connection from one address: %d, want 429", got)
	}
	// A closed connection gives its slot back.
	conns[0].Close()
	for i := 0; ; i++ {
		if got := getFrom(t, base, "127.0.0.5", "/healthz"); got == 200 {
			break
		} else if i == 100 {
			t.Fatalf("after one of the five closed: %d, want 200", got)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := getFrom(t, base, "127.0.0.6", "/healthz"); got != 200 {
		t.Errorf("another address: %d, want 200", got)
	}
}

// TestMaxConnections: beyond server.max_connections a new connection is answered 503 in JSON with
// Retry-After; once the others end, new clients are served again.
func TestMaxConnections(t *testing.T) {
	t.Parallel()
	app, _ := newApp(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := serveOn(t, app, LimitConnections(ln, 10, 0, nil))
	var held []net.Conn
	for i := 0; i < 10; i++ {
		c := dialFrom(t, base, "127.0.0.7")
		fmt.Fprintf(c, "GET /api/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n") // 401, and a request being read
		if got := statusOf(t, c); got != 401 {
			t.Fatalf("connection %d: %d", i, got)
		}
		fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\n") // busy: a request on its way, never idle
		held = append(held, c)
	}
	c := dialFrom(t, base, "127.0.0.8")
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("connection beyond max_connections: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "5" || !strings.Contains(string(body), `"detail":"The server has too many connections open`) {
		t.Errorf("connection beyond max_connections: %d, Retry-After %q, %s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	for _, c := range held {
		c.Close()
	}
	for i := 0; ; i++ { // the server notices the closed connections as it reads them
		if got := getFrom(t, base, "127.0.0.8", "/healthz"); got == 200 {
			break
		} else if i == 100 {
			t.Fatalf("after the others closed: %d, want 200", got)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestIdleConnectionsGiveWay: keep-alive connections that sit idle (one request, then nothing)
// cannot keep other clients out: near server.max_connections the idle ones are closed, and a new
// client is served; while the server is not near it, idle connections stay open.
func TestIdleConnectionsGiveWay(t *testing.T) {
	t.Parallel()
	app, _ := newApp(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := serveOn(t, app, LimitConnections(ln, 12, 0, nil))
	open := func(n int) []net.Conn {
		var cs []net.Conn
		for i := 0; i < n; i++ {
			c := dialFrom(t, base, "127.0.0.9")
			fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
			if got := statusOf(t, c); got != 200 {
				t.Fatalf("connection %d: %d", i, got)
			}
			cs = append(cs, c)
		}
		return cs
	}
	// Below 3/4 of the limit idle connections stay.
	few := open(8)
	time.Sleep(idleUnderPressure + 500*time.Millisecond)
	if got := getFrom(t, base, "127.0.0.10", "/healthz"); got != 200 {
		t.Fatalf("a new client below the limit: %d", got)
	}
	for i, c := range few {
		fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
		if got := statusOf(t, c); got != 200 {
			t.Errorf("idle connection %d below 3/4 of the limit was closed: %d", i, got)
		}
	}
	// At the limit, all idle: they give way to a new client.
	open(4)
	time.Sleep(idleUnderPressure + 500*time.Millisecond)
	if got := getFrom(t, base, "127.0.0.10", "/healthz"); got != 200 { // the first one already
		t.Fatalf("a new client while idle connections fill the limit: %d, want 200", got)
	}
}

// TestAllowedHosts: the API answers only to allowed host names (DNS rebinding); addresses,
// localhost and configured names pass, and so does everything outside /api.
func TestAllowedHosts(t *testing.T) {
	t.Parallel()
	app, _ := newApp(t, func(c *config.Config) {
		c.Server.AllowedHosts = []string{"clinic.example.org", ".example.net"}
		c.Server.TrustedProxies = []string{"0.0.0.0/0"}
	})
	for _, tc := range []struct {
		name, host, forwardedHost, path string
		want                            int
	}{
		{"IPv4 address", "127.0.0.1:8080", "", "/api/", 401},
		{"IPv6 address", "[::1]:8080", "", "/api/", 401},
		{"localhost", "localhost:8080", "", "/api/", 401},
		{"configured name", "Clinic.Example.org", "", "/api/", 401},
		{"configured domain", "example.net", "", "/api/", 401},
		{"subdomain of a configured domain", "a.b.example.net:443", "", "/api/patients/", 401},
		{"rebound name", "attacker.example.com", "", "/api/", 400},
		{"rebound name, any API path", "attacker.example.com:8080", "", "/api/auth/login/", 400},
		{"suffix that is not a subdomain", "evilexample.net", "", "/api/", 400},
		{"forwarded host from a trusted proxy", "127.0.0.1", "attacker.example.com", "/api/", 400},
		{"forwarded host with userinfo", "127.0.0.1", "127.0.0.1:80@attacker.example.com", "/api/", 400},
		{"forwarded host with a port that is not one", "127.0.0.1", "127.0.0.1:x.attacker.example.com", "/api/", 400},
		{"outside the API", "attacker.example.com", "", "/healthz", 200},
	} {
		req, _ := http.NewRequest("GET", "http://x"+tc.path, nil)
		req.Host = tc.host
		if tc.forwardedHost != "" {
			req.Header.Set("X-Forwarded-Host", tc.forwardedHost)
		}
		resp, err := app.Test(req, -1)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s: Host %q: %d %s, want %d", tc.name, tc.host, resp.StatusCode, b, tc.want)
		}
		if tc.want == 400 && !strings.Contains(string(b), "server.allowed_hosts") {
			t.Errorf("%s: body %s", tc.name, b)
		}
	}
}
