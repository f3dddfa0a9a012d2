package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/jackc/pgx/v5/pgxpool"

	"healthcare/app/config"
)

// These tests need no database: the pool points at a closed port, so /readyz sees a database
// that is down. Everything with a real database runs in the process-level tests (app/cli).

var testUI = fstest.MapFS{
	"index.html":        {Data: []byte("<!doctype html><title>UI</title>")},
	"app.js":            {Data: []byte("console.log(1)")},
	"css/styles.css":    {Data: []byte("body{}")},
	"favicon.svg":       {Data: []byte("<svg xmlns='http://www.w3.org/2000/svg'/>")},
	"vendor/x/LICENSE":  {Data: []byte("MIT License text")},
	"vendor/x/lib.mjs":  {Data: []byte("export {}")},
	"vendor/x/data.bin": {Data: []byte{0, 1, 2, 3}},
}

// logBuffer is a goroutine-safe log sink.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
func (l *logBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

func newApp(t *testing.T, mutate ...func(*config.Config)) (*fiber.App, *logBuffer) {
	t.Helper()
	defaults, err := os.ReadFile("../../config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(config.Sources{Defaults: defaults, WorkDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Server.BodyLimit = 1024
	cfg.Server.AllowedHosts = []string{"example.com"} // app.Test's requests go to example.com
	for _, m := range mutate {
		m(cfg)
	}
	pool, err := pgxpool.New(context.Background(), "postgres://nobody@127.0.0.1:1/none?connect_timeout=1")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	logs := &logBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	app := New(Options{Config: cfg, Pool: pool, UI: testUI, Log: log})
	app.Get("/test/panic", func(c *fiber.Ctx) error { panic("boom: secret internals") })
	return app, logs
}

type scenario struct {
	Name           string
	Method         string
	URL            string
	Body           string
	Headers        map[string]string
	ExpectedStatus int
	ExpectedJSON   string            // exact JSON body, when set
	ExpectedBody   string            // exact body, when set
	ExpectedHeader map[string]string // exact values; "" means absent
	NotExpected    []string          // strings that must not appear in the body
}

func (s scenario) run(t *testing.T, app *fiber.App) *http.Response {
	t.Helper()
	method := s.Method
	if method == "" {
		method = http.MethodGet
	}
	req := httptest.NewRequest(method, s.URL, strings.NewReader(s.Body))
	for k, v := range s.Headers {
		req.Header.Set(k, v)
	}
	resp, err := app.Test(req, 10_000)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != s.ExpectedStatus {
		t.Errorf("status %d, want %d (body %q)", resp.StatusCode, s.ExpectedStatus, body)
	}
	if s.ExpectedJSON != "" {
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Errorf("Content-Type %q, want JSON", ct)
		}
		var got, want any
		if err := json.Unmarshal(body, &got); err != nil {
			t.Fatalf("body is not JSON: %q", body)
		}
		_ = json.Unmarshal([]byte(s.ExpectedJSON), &want)
		gb, _ := json.Marshal(got)
		wb, _ := json.Marshal(want)
		if !bytes.Equal(gb, wb) {
			t.Errorf("body %s, want %s", gb, wb)
		}
	}
	if s.ExpectedBody != "" && string(body) != s.ExpectedBody {
		t.Errorf("body %q, want %q", body, s.ExpectedBody)
	}
	for k, v := range s.ExpectedHeader {
		if got := resp.Header.Get(k); got != v {
			t.Errorf("header %s = %q, want %q", k, got, v)
		}
	}
	for _, n := range s.NotExpected {
		if strings.Contains(string(body), n) {
			t.Errorf("body contains %q: %q", n, body)
		}
	}
	return resp
}

func TestScenarios(t *testing.T) {
	t.Parallel()
	app, _ := newApp(t)
	etag := func() string {
		resp := scenario{URL: "/app.js", ExpectedStatus: 200}.run(t, app)
		return resp.Header.Get("ETag")
	}()
	if len(etag) < 10 {
		t.Fatalf("no ETag on a UI file: %q", etag)
	}
	cases := []scenario{
		{Name: "healthz", URL: "/healthz", ExpectedStatus: 200, ExpectedJSON: `{"status":"ok"}`,
			ExpectedHeader: map[string]string{"Cache-Control": "no-store"}},
		{Name: "readyz with the database down", URL: "/readyz", ExpectedStatus: 503,
			ExpectedJSON:   `{"status":"unavailable","detail":"The database is not answering."}`,
			ExpectedHeader: map[string]string{"Retry-After": "5", "Cache-Control": "no-store"}},
		{Name: "unknown path", URL: "/nope", ExpectedStatus: 404, ExpectedJSON: `{"detail":"Not found."}`},
		{Name: "unknown api path", URL: "/api/nope/", ExpectedStatus: 404, ExpectedJSON: `{"detail":"Not found."}`,
			ExpectedHeader: map[string]string{"Cache-Control": "no-store"}},
		{Name: "api never returns the UI", URL: "/api/", ExpectedStatus: 401, ExpectedJSON: `{"detail":"Authentication credentials were not provided."}`}, // the API root (GET /api/) needs a token
		{Name: "api/index.html is not the UI", URL: "/api/index.html", ExpectedStatus: 404, ExpectedJSON: `{"detail":"Not found."}`},
		{Name: "unknown api path is a JSON 404", URL: "/api/nothing/", ExpectedStatus: 404, ExpectedJSON: `{"detail":"Not found."}`},
		{Name: "wrong method", Method: "POST", URL: "/healthz", ExpectedStatus: 405,
			ExpectedJSON: `{"detail":"Method \"POST\" not allowed."}`},
		{Name: "wrong method on a UI file", Method: "DELETE", URL: "/app.js", ExpectedStatus: 405,
			ExpectedJSON: `{"detail":"Method \"DELETE\" not allowed."}`},
		{Name: "panic is a generic 500", URL: "/test/panic", ExpectedStatus: 500,
			ExpectedJSON: `{"detail":"A server error occurred. It has been logged; try again later."}`, NotExpected: []string{"boom", "goroutine"}},
		{Name: "request id echoed", URL: "/healthz", Headers: map[string]string{"X-Request-ID": "abc-DEF_123"}, ExpectedStatus: 200,
			ExpectedHeader: map[string]string{"X-Request-ID": "abc-DEF_123"}},
		{Name: "security headers", URL: "/healthz", ExpectedStatus: 200, ExpectedHeader: map[string]string{
			"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY",
			"Content-Security-Policy": ContentSecurityPolicy}},
		{Name: "security headers on errors", URL: "/nope", ExpectedStatus: 404, ExpectedHeader: map[string]string{
			"X-Content-Type-Options": "nosniff", "Content-Security-Policy": ContentSecurityPolicy}},
		{Name: "index at /", URL: "/", ExpectedStatus: 200, ExpectedBody: "<!doctype html><title>UI</title>",
			ExpectedHeader: map[string]string{"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-cache",
				"Content-Security-Policy": ContentSecurityPolicy}},
		{Name: "index by name", URL: "/index.html", ExpectedStatus: 200, ExpectedBody: "<!doctype html><title>UI</title>"},
		{Name: "script", URL: "/app.js", ExpectedStatus: 200, ExpectedBody: "console.log(1)",
			ExpectedHeader: map[string]string{"Content-Type": "text/javascript; charset=utf-8", "ETag": etag}},
		{Name: "module", URL: "/vendor/x/lib.mjs", ExpectedStatus: 200, ExpectedHeader: map[string]string{"Content-Type": "text/javascript; charset=utf-8"}},
		{Name: "stylesheet in a folder", URL: "/css/styles.css", ExpectedStatus: 200, ExpectedHeader: map[string]string{"Content-Type": "text/css; charset=utf-8"}},
		{Name: "svg", URL: "/favicon.svg", ExpectedStatus: 200, ExpectedHeader: map[string]string{"Content-Type": "image/svg+xml"}},
		{Name: "no extension is sniffed", URL: "/vendor/x/LICENSE", ExpectedStatus: 200, ExpectedHeader: map[string]string{"Content-Type": "text/plain; charset=utf-8"}},
		{Name: "binary", URL: "/vendor/x/data.bin", ExpectedStatus: 200, ExpectedHeader: map[string]string{"Content-Type": "application/octet-stream"}},
		{Name: "etag revalidates", URL: "/app.js", Headers: map[string]string{"If-None-Match": etag}, ExpectedStatus: 304,
			ExpectedHeader: map[string]string{"ETag": etag}},
		{Name: "weak etag in a list", URL: "/app.js", Headers: map[string]string{"If-None-Match": `"zzz", W/` + etag}, ExpectedStatus: 304},
		{Name: "stale etag", URL: "/app.js", Headers: map[string]string{"If-None-Match": `"old"`}, ExpectedStatus: 200, ExpectedBody: "console.log(1)"},
		{Name: "no SPA fallback", URL: "/patients/12", ExpectedStatus: 404, ExpectedJSON: `{"detail":"Not found."}`},
		{Name: "directory is not listed", URL: "/vendor/x/", ExpectedStatus: 404, ExpectedJSON: `{"detail":"Not found."}`},
		{Name: "dot segments are not resolved", URL: "/vendor/../index.html", ExpectedStatus: 404, ExpectedJSON: `{"detail":"Not found."}`},
	}
	for _, s := range cases {
		t.Run(s.Name, func(t *testing.T) {
			t.Parallel()
			s.run(t, app)
		})
	}
}

func TestHead(t *testing.T) {
	t.Parallel()
	app, _ := newApp(t)
	resp := scenario{Method: "HEAD", URL: "/app.js", ExpectedStatus: 200, ExpectedBody: "",
		ExpectedHeader: map[string]string{"Content-Type": "text/javascript; charset=utf-8"}}.run(t, app)
	if resp.Header.Get("ETag") == "" {
		t.Error("HEAD has no ETag")
	}
}

func TestRequestIDReplaced(t *testing.T) {
	t.Parallel()
	app, _ := newApp(t)
	for _, bad := range []string{strings.Repeat("a", 65), "has space", "new\nline", "semi;colon", "ünicode"} {
		req := httptest.NewRequest("GET", "/healthz", nil)
		req.Header["X-Request-Id"] = []string{bad}
		resp, err := app.Test(req)
		if err != nil {
			t.Fatal(err)
		}
		got := resp.Header.Get("X-Request-ID")
		if got == bad || !validRequestID(got) || len(got) != 32 {
			t.Errorf("incoming %q: answered id %q, want a fresh 32-character id", bad, got)
		}
	}
	ok := strings.Repeat("a", 64)
	req := httptest.NewRequest("GET", "/healthz", nil)
	req.Header.Set("X-Request-ID", ok)
	resp, _ := app.Test(req)
	if resp.Header.Get("X-Request-ID") != ok {
		t.Error("a 64-character id was not kept")
	}
}

// TestAccessLog: one line per request, without query strings, bodies or tokens; panics logged.
func TestAccessLog(t *testing.T) {
	t.Parallel()
	app, logs := newApp(t)
	for _, s := range []scenario{
		{Method: "POST", URL: "/api/patients/?search=Jane+Smith&phone=5550100", Body: `{"name":"Jane Smith"}`,
			Headers: map[string]string{"Authorization": "Bearer eyJ.secret.token", "X-Request-ID": "log-test-1", "Content-Type": "application/json"}},
		{URL: "/test/panic", Headers: map[string]string{"X-Request-ID": "log-test-2"}},
	} {
		req := httptest.NewRequest(s.Method, s.URL, strings.NewReader(s.Body))
		for k, v := range s.Headers {
			req.Header.Set(k, v)
		}
		if _, err := app.Test(req); err != nil {
			t.Fatal(err)
		}
	}
	out := logs.String()
	for _, secret := range []string{"Jane", "Smith", "5550100", "search=", "eyJ.secret.token", "Bearer"} {
		if strings.Contains(out, secret) {
			t.Errorf("log holds %q:\n%s", secret, out)
		}
	}
	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line is not JSON: %q", l)
		}
		if m["msg"] == "request" {
			lines = append(lines, m)
		}
	}
	if len(lines) != 2 {
		t.Fatalf("want 2 request lines, got %d:\n%s", len(lines), out)
	}
	first := lines[0]
	if first["method"] != "POST" || first["path"] != "/api/patients/" || first["request_id"] != "log-test-1" ||
		first["status"] == nil || first["duration_ms"] == nil || first["bytes"] == nil || first["ip"] == nil {
		t.Errorf("request line lacks fields: %v", first)
	}
	if lines[1]["status"] != float64(500) {
		t.Errorf("panic logged with status %v, want 500", lines[1]["status"])
	}
	if !strings.Contains(out, `"msg":"panic while handling a request"`) || !strings.Contains(out, "goroutine") {
		t.Errorf("panic and stack not logged:\n%s", out)
	}
}

// TestTrustedProxies: X-Forwarded-For is believed only from a configured proxy.
func TestTrustedProxies(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		Name    string
		Proxies []string
		XFF     string
		WantIP  string
	}{
		{"no proxy configured", nil, "203.0.113.7", "127.0.0.1"},
		{"peer is a trusted proxy", []string{"127.0.0.1"}, "203.0.113.7", "203.0.113.7"},
		{"peer is in a trusted range", []string{"127.0.0.0/8"}, "203.0.113.7", "203.0.113.7"},
		{"peer is not trusted", []string{"10.0.0.1"}, "203.0.113.7", "127.0.0.1"},
		// The client writes whatever it likes left of what the proxy appended.
		{"forged entries left of the proxy's", []string{"127.0.0.1"}, "198.51.100.1, 198.51.100.2,203.0.113.7", "203.0.113.7"},
		{"a chain of trusted proxies", []string{"127.0.0.1", "10.0.0.0/8"}, "198.51.100.1, 203.0.113.7, 10.1.2.3, 10.0.0.9", "203.0.113.7"},
		{"every entry a trusted proxy", []string{"127.0.0.1", "10.0.0.0/8"}, "10.1.2.3, 10.0.0.9", "10.1.2.3"},
		{"garbage appended", []string{"127.0.0.1"}, "203.0.113.7, not-an-ip", "127.0.0.1"},
		{"IPv4-mapped IPv6", []string{"127.0.0.1"}, "::ffff:203.0.113.9", "203.0.113.9"},
		// A zone is any bytes the sender likes (it reached the database as text: a 500, and a
		// fresh rate-limit bucket per zone).
		{"an address with a zone", []string{"127.0.0.1"}, "203.0.113.7, fe80::1%\xff\xfe", "127.0.0.1"},
		{"a zone left of the proxy's entry", []string{"127.0.0.1"}, "fe80::1%eth0, 203.0.113.7", "203.0.113.7"},
		// Some proxies append the port: the address is still the client's, not the proxy's.
		{"an address with a port", []string{"127.0.0.1"}, "203.0.113.7:51234", "203.0.113.7"},
		{"an IPv6 address with a port", []string{"127.0.0.1"}, "[2001:db8::7]:51234", "2001:db8::7"},
	} {
		t.Run(tc.Name, func(t *testing.T) {
			t.Parallel()
			app, logs := newApp(t, func(c *config.Config) { c.Server.TrustedProxies = tc.Proxies })
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- Serve(ctx, app, ln, 5*time.Second) }()
			req, _ := http.NewRequest("GET", "http://"+ln.Addr().String()+"/nope", nil)
			req.Header.Set("X-Forwarded-For", tc.XFF)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Serve: %v", err)
			}
			if want := `"ip":"` + tc.WantIP + `"`; !strings.Contains(logs.String(), want) {
				t.Errorf("log lacks %s:\n%s", want, logs.String())
			}
		})
	}
}

// TestForwardedScheme: a trusted proxy's X-Forwarded-Proto makes the URLs the API writes (the API
// root's, Link headers') https, but a scheme other than http or https is dropped, whichever
// header and however many carry it.
func TestForwardedScheme(t *testing.T) {
	t.Parallel()
	app, _ := newApp(t, func(c *config.Config) { c.Server.TrustedProxies = []string{"127.0.0.1"} })
	app.Get("/test/base", func(c *fiber.Ctx) error { return c.SendString(c.BaseURL()) })
	base := serve(t, app)
	for _, tc := range []struct {
		headers [][2]string
		want    string
	}{
		{nil, "http://127.0.0.1"},
		{[][2]string{{"X-Forwarded-Proto", "https"}}, "https://127.0.0.1"},
		{[][2]string{{"X-Forwarded-Proto", "https, http"}}, "https://127.0.0.1"},
		{[][2]string{{"X-Forwarded-Proto", "javascript"}}, "http://127.0.0.1"},
		{[][2]string{{"X-Forwarded-Proto", "https"}, {"X-Forwarded-Proto", "javascript"}}, "http://127.0.0.1"},
		{[][2]string{{"X-Url-Scheme", "javascript"}}, "http://127.0.0.1"},
		{[][2]string{{"X-Forwarded-Protocol", "data"}}, "http://127.0.0.1"},
		{[][2]string{{"X-Url-Scheme", "https"}}, "https://127.0.0.1"},
		{[][2]string{{"X-Url-Scheme", "https,javascript:alert(1)//"}}, "http://127.0.0.1"},
	} {
		req, _ := http.NewRequest("GET", base+"/test/base", nil)
		req.Host = "127.0.0.1"
		for _, h := range tc.headers {
			req.Header.Add(h[0], h[1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(got) != tc.want {
			t.Errorf("%v: base URL %q, want %q", tc.headers, got, tc.want)
		}
	}
}

// serve runs app on a loopback listener until the test ends and returns its base URL.
func serve(t *testing.T, app *fiber.App) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return serveOn(t, app, ln)
}

// serveOn runs app on ln until the test ends and returns its base URL.
func serveOn(t *testing.T, app *fiber.App, ln net.Listener) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, app, ln, 5*time.Second) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return "http://" + ln.Addr().String()
}

// TestBodyTooLarge: fasthttp rejects the body before any handler runs; the answer is still the
// JSON error with the usual headers (over a real connection: app.Test bypasses that path).
func TestBodyTooLarge(t *testing.T) {
	t.Parallel()
	app, logs := newApp(t)
	base := serve(t, app)
	for _, chunked := range []bool{false, true} {
		var body io.Reader = strings.NewReader(strings.Repeat("x", 5000))
		if chunked {
			body = io.MultiReader(body) // unknown length: sent chunked
		}
		req, _ := http.NewRequest("POST", base+"/api/doctors/", body)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Request-ID", "big-body-1")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 413 || string(b) != `{"detail":"Request body is too large."}` ||
			!strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
			t.Errorf("chunked=%v: %d %q %q", chunked, resp.StatusCode, resp.Header.Get("Content-Type"), b)
		}
		want := map[string]string{"X-Request-ID": "big-body-1", "X-Frame-Options": "DENY", "Cache-Control": "no-store",
			"Content-Security-Policy": ContentSecurityPolicy}
		if chunked {
			// fasthttp resets the request when a chunked body overflows: the incoming id is gone.
			if id := resp.Header.Get("X-Request-ID"); !validRequestID(id) {
				t.Errorf("chunked: no request id: %q", id)
			}
			delete(want, "X-Request-ID")
		}
		for k, v := range want {
			if got := resp.Header.Get(k); got != v {
				t.Errorf("chunked=%v: header %s = %q, want %q", chunked, k, got, v)
			}
		}
	}
	if !strings.Contains(logs.String(), `"status":413`) {
		t.Errorf("413 not in the access log:\n%s", logs.String())
	}
}

// TestServeWaitsForInFlight: a request running when shutdown starts still gets its answer.
func TestServeWaitsForInFlight(t *testing.T) {
	t.Parallel()
	app, _ := newApp(t)
	started := make(chan struct{})
	app.Get("/test/slow", func(c *fiber.Ctx) error {
		close(started)
		time.Sleep(300 * time.Millisecond)
		return c.SendString("done")
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, app, ln, 5*time.Second) }()
	got := make(chan string, 1)
	go func() {
		resp, err := http.Get("http://" + ln.Addr().String() + "/test/slow")
		if err != nil {
			got <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got <- string(b)
	}()
	<-started
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Serve: %v", err)
	}
	if body := <-got; body != "done" {
		t.Errorf("in-flight request got %q, want done", body)
	}
}

// TestPathCaseAndCaching: routing is case-sensitive as in Django, so /API/... reaches no route, and
// no answer can be cached unless its route allows it (issue 16, item 1).
func TestPathCaseAndCaching(t *testing.T) {
	t.Parallel()
	app, _ := newApp(t)
	for _, s := range []scenario{
		{Name: "upper-case api prefix", URL: "/API/patients/", ExpectedStatus: 404, ExpectedJSON: `{"detail":"Not found."}`,
			ExpectedHeader: map[string]string{"Cache-Control": "no-store"}},
		{Name: "mixed-case api path", URL: "/Api/auth/me/", ExpectedStatus: 404, ExpectedJSON: `{"detail":"Not found."}`,
			ExpectedHeader: map[string]string{"Cache-Control": "no-store"}},
		{Name: "upper-case health", URL: "/HEALTHZ", ExpectedStatus: 404, ExpectedHeader: map[string]string{"Cache-Control": "no-store"}},
		{Name: "upper-case UI file", URL: "/APP.JS", ExpectedStatus: 404, ExpectedHeader: map[string]string{"Cache-Control": "no-store"}},
		{Name: "api answer", URL: "/api/auth/me/", ExpectedStatus: 401, ExpectedHeader: map[string]string{"Cache-Control": "no-store"}},
		{Name: "UI file keeps its own caching", URL: "/app.js", ExpectedStatus: 200, ExpectedHeader: map[string]string{"Cache-Control": "no-cache"}},
	} {
		t.Run(s.Name, func(t *testing.T) { s.run(t, app) })
	}
}

// TestIsolationHeaders: every answer, errors included, turns off unused browser features and
// refuses cross-origin embedding and openers (issue 16, item 7).
func TestIsolationHeaders(t *testing.T) {
	t.Parallel()
	app, _ := newApp(t)
	want := map[string]string{"Permissions-Policy": PermissionsPolicy,
		"Cross-Origin-Opener-Policy": "same-origin", "Cross-Origin-Resource-Policy": "same-origin"}
	for _, s := range []scenario{
		{Name: "health", URL: "/healthz", ExpectedStatus: 200, ExpectedHeader: want},
		{Name: "UI", URL: "/", ExpectedStatus: 200, ExpectedHeader: want},
		{Name: "404", URL: "/nope", ExpectedStatus: 404, ExpectedHeader: want},
		{Name: "api 401", URL: "/api/patients/", ExpectedStatus: 401, ExpectedHeader: want},
	} {
		t.Run(s.Name, func(t *testing.T) { s.run(t, app) })
	}
	if !strings.Contains(PermissionsPolicy, "camera=()") || !strings.Contains(PermissionsPolicy, "geolocation=()") {
		t.Errorf("Permissions-Policy leaves camera or geolocation on: %s", PermissionsPolicy)
	}
}

// TestMalformedRequestsRefused: over a real connection, a request head with a bare LF (request
// line or header) or an HTTP/1.1 request without Host is a JSON 400 and the connection closes;
// CRLF requests, HTTP/1.0 without Host and keep-alive sequences are served (issue 16, item 7).
func TestMalformedRequestsRefused(t *testing.T) {
	t.Parallel()
	app, logs := newApp(t)
	base := serve(t, app)
	addr := strings.TrimPrefix(base, "http://")
	for _, tc := range []struct {
		Name   string
		Raw    string
		Status int
		Detail string
	}{
		{"well formed", "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 200, ""},
		{"empty line before the request line", "\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 200, ""},
		{"HTTP/1.0 without Host", "GET /healthz HTTP/1.0\r\n\r\n", 200, ""},
		{"bare LF after the request line", "GET /healthz HTTP/1.1\nHost: x\r\n\r\n", 400, msgBareLF},
		{"bare LF after a header", "GET /healthz HTTP/1.1\r\nHost: x\nX-A: 1\r\n\r\n", 400, msgBareLF},
		{"bare LF everywhere", "GET /healthz HTTP/1.1\nHost: x\n\n", 400, msgBareLF},
		{"bare LF ending the head", "GET /healthz HTTP/1.1\r\nHost: x\r\n\n", 400, msgBareLF},
		{"HTTP/1.1 without Host", "GET /healthz HTTP/1.1\r\nX-A: 1\r\n\r\n", 400, msgNoHost},
		{"a body may hold bare LFs", "POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 7\r\n\r\n{\n\"a\"\n}", 405, ""},
		{"two Host headers", "GET /healthz HTTP/1.1\r\nHost: evil.example\r\nHost: 127.0.0.1\r\n\r\n", 400, msgTwoHosts},
		{"a bare CR in the request line", "GET /healthz\r HTTP/1.1\r\nHost: x\r\n\r\n", 400, msgBareLF},
		{"CR CR LF ending the request line", "GET /healthz HTTP/1.1\r\r\nHost: x\r\n\r\n", 400, msgBareLF},
		{"a bare CR in a header", "GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: 1\r2\r\n\r\n", 400, msgBareCR},
		{"Content-Length and chunked", "POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, msgBodyFrame},
		{"two different Content-Lengths", "POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\ncontent-length: 4\r\n\r\n{}{}", 400, msgBodyFrame},
		{"the same Content-Length twice", "POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n{}", 405, ""},
		{"Transfer-Encoding identity", "POST /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity\r\n\r\n{}", 400, msgCoding},
		{"chunked, identity", "POST /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n", 400, msgCoding},
		{"two Transfer-Encodings", "POST /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, msgCoding},
		{"a NUL in a header", "GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n", 400, msgNUL},
		{"chunked alone", "POST /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n", 405, ""},
	} {
		t.Run(tc.Name, func(t *testing.T) {
			t.Parallel()
			resp, body := rawRequest(t, addr, tc.Raw)
			if resp.StatusCode != tc.Status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.Status, body)
			}
			if tc.Detail != "" {
				if want := `{"detail":"` + tc.Detail + `"}`; body != want {
					t.Errorf("body %s, want %s", body, want)
				}
				if !resp.Close {
					t.Error("the connection stays open after a malformed request")
				}
				if resp.Header.Get("X-Request-ID") == "" || resp.Header.Get("Cache-Control") != "no-store" {
					t.Errorf("the 400 lacks the usual headers: %v", resp.Header)
				}
			}
		})
	}
	// A keep-alive connection: a well-formed request, then a malformed one, on the same socket.
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	br := bufio.NewReader(conn)
	for i, raw := range []string{"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", "GET /healthz HTTP/1.1\nHost: x\r\n\r\n"} {
		if _, err := conn.Write([]byte(raw)); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if want := []int{200, 200, 400}[i]; resp.StatusCode != want {
			t.Errorf("keep-alive request %d: status %d, want %d", i, resp.StatusCode, want)
		}
	}
	if !strings.Contains(logs.String(), `"status":400`) {
		t.Errorf("the 400s are not in the access log:\n%s", logs.String())
	}
}

// rawRequest sends raw bytes on a new connection and reads one response.
func rawRequest(t *testing.T, addr, raw string) (*http.Response, string) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := conn.Write([]byte(raw)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}
