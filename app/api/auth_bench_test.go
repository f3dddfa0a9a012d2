package api_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"healthcare/app/api/apitest"
	"healthcare/app/auth"
	"healthcare/app/config"
	"healthcare/app/database/dbtest"
	"healthcare/app/server"
	"healthcare/app/store"
)

// queryCounter counts the queries a pool runs.
type queryCounter struct{ n atomic.Int64 }

func (q *queryCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	q.n.Add(1)
	return ctx
}
func (q *queryCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// The queries of a batch count one each too (a batch is still one round trip).
func (q *queryCounter) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	return ctx
}
func (q *queryCounter) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {
	q.n.Add(1)
}
func (q *queryCounter) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}

// tracedServer runs the real server on a pool whose queries are counted.
func tracedServer(t testing.TB, mutate ...func(*config.Config)) (*apitest.Env, *queryCounter) {
	t.Helper()
	e := apitest.New(t, mutate...) // a normal server, used to register users
	base := dbtest.Pool(t)
	pc := base.Config()
	qc := &queryCounter{}
	pc.ConnConfig.Tracer = qc
	pool, err := pgxpool.NewWithConfig(context.Background(), pc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc, err := auth.New(e.Config, store.New(pool, 0), log)
	if err != nil {
		t.Fatal(err)
	}
	app := server.New(server.Options{Config: e.Config, Pool: pool, Auth: svc, Log: log})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = app.Listener(ln) }()
	t.Cleanup(func() { _ = app.ShutdownWithTimeout(5 * time.Second) })
	e.URL = "http://" + ln.Addr().String() // the helpers now talk to the traced server
	return e, qc
}

// TestAuthQueriesPerRequest measures the database cost of authentication: one primary-key query
// per authenticated request (user still exists and is active), none for a refused token.
func TestAuthQueriesPerRequest(t *testing.T) {
	t.Parallel()
	e, qc := tracedServer(t)
	tok := e.User("alice")
	const n = 20
	before := qc.n.Load()
	for range n {
		if r := e.Get("/api/auth/me/", tok); r.Status != 200 {
			t.Fatalf("%d %s", r.Status, r.Body)
		}
	}
	if q := qc.n.Load() - before; q != n {
		t.Fatalf("%d queries for %d authenticated requests, want exactly one each", q, n)
	}
	before = qc.n.Load()
	for _, bad := range []string{"garbage", tok + "x", strings.Replace(tok, ".", "..", 1)} {
		if r := e.Get("/api/auth/me/", bad); r.Status != 401 {
			t.Fatalf("%d %s", r.Status, r.Body)
		}
	}
	if q := qc.n.Load() - before; q != 0 {
		t.Fatalf("%d queries for refused tokens, want none", q)
	}
	// GET one patient, and its doctors: the read is answered by the session check's statement.
	r := e.Post("/api/patients/", tok, map[string]any{"name": "P", "age": 30, "gender": "F", "address": "x", "phone_number": "+15550001"})
	if r.Status != 201 {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	var p struct{ ID int64 }
	r.Decode(t, &p)
	// A creation whose User-Agent is not UTF-8 costs the statements of any other: its audit text is
	// cleaned before the batched statement, which PostgreSQL would refuse, and every creation of
	// that batch would then run again alone.
	statements := func(ua, phone string) int64 {
		before := qc.n.Load()
		r := e.Do(apitest.Request{Method: "POST", Path: "/api/patients/", Token: tok, Header: map[string]string{"User-Agent": ua},
			Body: map[string]any{"name": "Q", "age": 31, "gender": "F", "address": "x", "phone_number": phone}})
		if r.Status != 201 {
			t.Fatalf("create (User-Agent %q): %d %s", ua, r.Status, r.Body)
		}
		return qc.n.Load() - before
	}
	if plain, hostile := statements("plain", "+15550002"), statements("bad\xff", "+15550003"); hostile != plain {
		t.Errorf("a creation took %d statements with a hostile User-Agent, %d without", hostile, plain)
	}
	for _, path := range []string{fmt.Sprintf("/api/patients/%d/", p.ID), fmt.Sprintf("/api/patients/%d/doctors/", p.ID)} {
		e.Get(path, tok) // the first may guess the clinic's visibility wrong
		before = qc.n.Load()
		for range n {
			if r := e.Get(path, tok); r.Status != 200 {
				t.Fatalf("%s: %d %s", path, r.Status, r.Body)
			}
		}
		if q := qc.n.Load() - before; q != n {
			t.Fatalf("GET %s: %d queries for %d requests, want exactly one each", path, q, n)
		}
	}
	t.Logf("authentication: %d queries per authenticated request (with its read for one patient), 0 per refused token", 1)
}

// benchClient keeps connections alive between requests, as a real client would.
func benchClient() *http.Client {
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 256, MaxConnsPerHost: 256}}
}

func benchGet(b testing.TB, c *http.Client, url, token string) {
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		b.Error(err)
		return
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b.Errorf("GET %s: %d", url, resp.StatusCode)
	}
}

// timeRequests runs n requests with conc workers and returns the wall time per request.
func timeRequests(n, conc int, do func()) time.Duration {
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				do()
			}
		}()
	}
	wg.Wait()
	return time.Since(start) / time.Duration(n)
}

// BenchmarkAuthLogin is the latency of POST /api/auth/login/ with config.yaml's argon2id cost,
// against GET /healthz in the same process as the baseline.
func BenchmarkAuthLogin(b *testing.B) {
	e := apitest.New(b, shippedArgon2(b))
	e.Register(b, "alice")
	c := benchClient()
	base := timeRequests(200, 1, func() { benchGet(b, c, e.URL+"/healthz", "") })
	for b.Loop() {
		st, _, body, err := rawPost(c, e.URL+"/api/auth/login/", map[string]string{"username": "alice", "password": pw})
		if err != nil || st != 200 {
			b.Fatalf("login: %d %s %v", st, body, err)
		}
	}
	per := b.Elapsed() / time.Duration(b.N)
	b.ReportMetric(float64(per.Microseconds())/1000, "ms/login")
	b.ReportMetric(float64(per)/float64(base), "x_healthz")
	b.Logf("argon2id m=%d KiB t=%d p=%d: login %.1f ms, healthz %.3f ms", e.Config.Auth.Argon2MemoryKiB,
		e.Config.Auth.Argon2Iterations, e.Config.Auth.Argon2Parallelism, float64(per.Microseconds())/1000, float64(base.Microseconds())/1000)
}

// BenchmarkAuthRequest is the latency of an authenticated no-op request (GET /api/auth/me/:
// token check + one query) against an unauthenticated one (GET /healthz), one at a time.
func BenchmarkAuthRequest(b *testing.B) {
	e := apitest.New(b)
	tok := e.User("alice")
	c := benchClient()
	base := timeRequests(2000, 1, func() { benchGet(b, c, e.URL+"/healthz", "") })
	for b.Loop() {
		benchGet(b, c, e.URL+"/api/auth/me/", tok)
	}
	per := b.Elapsed() / time.Duration(b.N)
	b.ReportMetric(float64(per.Nanoseconds())/1000, "µs/me")
	b.ReportMetric(float64(base.Nanoseconds())/1000, "µs/healthz")
	b.ReportMetric(float64(per)/float64(base), "x_healthz")
}

// BenchmarkAuthThroughput compares the throughput of GET /api/auth/me/ with GET /healthz under
// 16 concurrent clients; x_healthz is the authenticated endpoint's share of the baseline throughput.
func BenchmarkAuthThroughput(b *testing.B) {
	e := apitest.New(b)
	tok := e.User("alice")
	c := benchClient()
	const conc = 16
	base := timeRequests(5000, conc, func() { benchGet(b, c, e.URL+"/healthz", "") })
	var per time.Duration
	for b.Loop() {
		per = timeRequests(5000, conc, func() { benchGet(b, c, e.URL+"/api/auth/me/", tok) })
	}
	b.ReportMetric(float64(time.Second)/float64(per), "me_req/s")
	b.ReportMetric(float64(time.Second)/float64(base), "healthz_req/s")
	b.ReportMetric(float64(base)/float64(per), "x_healthz")
}

// shippedArgon2 restores config.yaml's argon2id cost (apitest uses the cheapest for speed).
func shippedArgon2(t testing.TB) func(*config.Config) {
	_, file, _, _ := runtime.Caller(0)
	defaults, err := os.ReadFile(filepath.Join(filepath.Dir(file), "..", "..", "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	shipped, err := config.Load(config.Sources{Defaults: defaults, WorkDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	return func(c *config.Config) {
		c.Auth.Argon2MemoryKiB, c.Auth.Argon2Iterations, c.Auth.Argon2Parallelism =
			shipped.Auth.Argon2MemoryKiB, shipped.Auth.Argon2Iterations, shipped.Auth.Argon2Parallelism
	}
}
