// Package apitest runs the real server on a real loopback listener against a fresh PostgreSQL
// database per test, and makes HTTP requests to it. Every request and response made through Env
// is checked against the OpenAPI document (check.go), so the document cannot drift from the code.
//
// Use it from a package's TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(apitest.Main(m)) }
package apitest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"healthcare/app/audit"
	"healthcare/app/auth"
	"healthcare/app/config"
	"healthcare/app/database/dbtest"
	"healthcare/app/server"
	"healthcare/app/store"
)

// Main starts the package's embedded PostgreSQL (see dbtest.Main). It reads config.yaml first,
// while still root: after dbtest drops privileges the checkout may not be readable.
func Main(m *testing.M) int {
	defaults, defaultsErr = readDefaults()
	return dbtest.Main(m)
}

var (
	defaults    []byte
	defaultsErr error
)

func readDefaults() ([]byte, error) {
	root, err := dbtest.ModuleRoot()
	if err != nil {
		return nil, fmt.Errorf("cannot find config.yaml: %v", err)
	}
	return os.ReadFile(filepath.Join(root, "config.yaml"))
}

// Env is one running server with its own database.
type Env struct {
	T      testing.TB
	URL    string // http://127.0.0.1:port
	Config *config.Config
	Auth   *auth.Service
	client *http.Client
	pool   *pgxpool.Pool // the test database, for arranging state (see auth.go)
	logs   *logBuffer
	// DatabaseTrouble says the test stopped the database or filled its disk on purpose: 503 and
	// 507 answers are then expected, not server bugs (they are still checked against the document).
	DatabaseTrouble bool
	// Audit writes the server's read records; Flush it before reading audit_log.
	Audit *audit.Recorder
}

// Config returns the default configuration (the repository's config.yaml) with rate limits off and
// a fixed JWT secret; tests adjust it before calling New.
func Config(t testing.TB) *config.Config {
	t.Helper()
	if defaults == nil && defaultsErr == nil {
		defaults, defaultsErr = readDefaults() // Main was not used
	}
	if defaultsErr != nil {
		t.Fatal(defaultsErr)
	}
	cfg, err := config.Load(config.Sources{Defaults: defaults, WorkDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	cfg.DataDir = t.TempDir()
	cfg.RateLimit.Enabled = false
	cfg.Auth.JWTSecret = "test-secret-0123456789abcdef0123456789abcdef"
	// The cheapest argon2id cost the config accepts keeps tests fast; the cost is measured in benchmarks.
	cfg.Auth.Argon2MemoryKiB, cfg.Auth.Argon2Iterations, cfg.Auth.Argon2Parallelism = 8*1024, 1, 1
	return cfg
}

// New starts a server with a fresh database. mutate adjusts the configuration first.
func New(t testing.TB, mutate ...func(*config.Config)) *Env {
	t.Helper()
	return NewOnPool(t, dbtest.Pool(t), mutate...)
}

// NewOnPool starts a server on pool, a database with schema.sql applied that the test provides
// (one on a PostgreSQL server of its own, to stop it). mutate adjusts the configuration first.
func NewOnPool(t testing.TB, pool *pgxpool.Pool, mutate ...func(*config.Config)) *Env {
	t.Helper()
	cfg := Config(t)
	for _, m := range mutate {
		m(cfg)
	}
	logs := &logBuffer{}
	var handler slog.Handler = slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})
	if testing.Verbose() {
		handler = slog.NewMultiHandler(handler, slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	log := slog.New(handler)
	svc := newAuth(t, cfg, pool, log)
	rec := audit.New(store.New(pool, cfg.Database.QueryTimeout), log)
	app := server.New(server.Options{Config: cfg, Pool: pool, Auth: svc, Log: log, Audit: rec})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = app.Listener(ln) }()
	t.Cleanup(func() { _ = app.ShutdownWithTimeout(5 * time.Second); rec.Close() })
	return &Env{
		Audit:  rec,
		T:      t,
		URL:    "http://" + ln.Addr().String(),
		Config: cfg,
		Auth:   svc,
		client: &http.Client{Timeout: 30 * time.Second},
		pool:   pool,
		logs:   logs,
	}
}

// Logs returns what the server logged so far, as JSON lines (debug level and up).
func (e *Env) Logs() string { return e.logs.String() }

// logBuffer is a goroutine-safe log sink that keeps the first 4 MiB (benchmarks log a lot).
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.Len() > 4<<20 {
		return len(p), nil
	}
	return l.b.Write(p)
}

func (l *logBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// Response is a recorded HTTP response.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into a generic value (map[string]any, []any...).
func (r *Response) JSON(t testing.TB) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(r.Body, &v); err != nil {
		t.Fatalf("response is not JSON (%v): %q", err, r.Body)
	}
	return v
}

// Decode decodes the body into v.
func (r *Response) Decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decode response (%v): %q", err, r.Body)
	}
}

// Request describes one request. Body is sent as is when it is a string or []byte, else as JSON.
type Request struct {
	Method    string
	Path      string
	Body      any
	Token     string            // sent as "Authorization: Bearer <Token>"
	Header    map[string]string // extra headers; Content-Type defaults to application/json with a body
	NoOpenAPI bool              // skip the OpenAPI check (deliberately invalid requests outside the document)
}

// Do sends the request and returns the response; it fails the test on transport errors.
func (e *Env) Do(r Request) *Response {
	e.T.Helper()
	var body []byte
	switch b := r.Body.(type) {
	case nil:
	case string:
		body = []byte(b)
	case []byte:
		body = b
	default:
		var err error
		if body, err = json.Marshal(b); err != nil {
			e.T.Fatal(err)
		}
	}
	req, err := http.NewRequest(r.Method, e.URL+r.Path, bytes.NewReader(body))
	if err != nil {
		e.T.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if r.Token != "" {
		req.Header.Set("Authorization", "Bearer "+r.Token)
	}
	for k, v := range r.Header {
		req.Header.Set(k, v)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		e.T.Fatalf("%s %s: %v", r.Method, r.Path, err)
	}
	defer resp.Body.Close()
	respBody, err := io.ReadAll(resp.Body)
	if err != nil {
		e.T.Fatal(err)
	}
	out := &Response{Status: resp.StatusCode, Header: resp.Header, Body: respBody}
	if !r.NoOpenAPI {
		check(e.T, req, body, out, e.DatabaseTrouble)
	}
	return out
}

// Get, Post, Put, Patch and Delete are shorthands for Do.
func (e *Env) Get(path, token string) *Response {
	e.T.Helper()
	return e.Do(Request{Method: http.MethodGet, Path: path, Token: token})
}

func (e *Env) Post(path, token string, body any) *Response {
	e.T.Helper()
	return e.Do(Request{Method: http.MethodPost, Path: path, Token: token, Body: body})
}

func (e *Env) Put(path, token string, body any) *Response {
	e.T.Helper()
	return e.Do(Request{Method: http.MethodPut, Path: path, Token: token, Body: body})
}

func (e *Env) Patch(path, token string, body any) *Response {
	e.T.Helper()
	return e.Do(Request{Method: http.MethodPatch, Path: path, Token: token, Body: body})
}

func (e *Env) Delete(path, token string) *Response {
	e.T.Helper()
	return e.Do(Request{Method: http.MethodDelete, Path: path, Token: token})
}
