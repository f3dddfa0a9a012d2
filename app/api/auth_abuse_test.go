package api_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"healthcare/app/api/apitest"
	"healthcare/app/config"
)

// rawPost posts a JSON body without the harness (safe from any goroutine) and returns status and body.
func rawPost(client *http.Client, url string, body any) (int, http.Header, []byte, error) {
	b, _ := json.Marshal(body)
	resp, err := client.Post(url, "application/json", bytes.NewReader(b))
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, data, err
}

// TestAuthConcurrentRegistrations: identical registrations racing each other end as exactly one
// 201 and the same 400 as a sequential duplicate, never a 500 (the original answered 7 of 8 with 500).
func TestAuthConcurrentRegistrations(t *testing.T) {
	t.Parallel()
	e := apitest.New(t)
	client := &http.Client{Timeout: 30 * time.Second}
	const rounds, racers = 4, 8
	for round := range rounds {
		name := fmt.Sprintf("racey%d", round)
		statuses := make([]int, racers)
		bodies := make([][]byte, racers)
		errs := make([]error, racers)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range racers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				// Case differs between racers: case-insensitive uniqueness is raced too.
				u := name
				if i%2 == 1 {
					u = "R" + name[1:]
				}
				statuses[i], _, bodies[i], errs[i] = rawPost(client, e.URL+"/api/auth/register/", register(u, name+"@example.com", pw, pw))
			}()
		}
		close(start)
		wg.Wait()
		created := 0
		for i := range racers {
			if errs[i] != nil {
				t.Fatal(errs[i])
			}
			switch statuses[i] {
			case http.StatusCreated:
				created++
			case http.StatusBadRequest:
				var v map[string][]string
				if err := json.Unmarshal(bodies[i], &v); err != nil {
					t.Fatalf("400 body %s", bodies[i])
				}
				for k, msgs := range v {
					ok := (k == "username" && msgs[0] == "A user with that username already exists.") ||
						(k == "email" && msgs[0] == "user with this email address already exists.")
					if !ok || len(msgs) != 1 {
						t.Fatalf("unexpected 400 body %s", bodies[i])
					}
				}
			default:
				t.Fatalf("racer %d: %d %s", i, statuses[i], bodies[i])
			}
		}
		if created != 1 {
			t.Fatalf("round %d: %d registrations succeeded, want exactly 1 (%v)", round, created, statuses)
		}
	}
}

var throttleMsg = regexp.MustCompile(`^\{"detail":"Request was throttled\. Expected available in (\d+) seconds?\."\}$`)

// checkThrottled asserts DRF's 429 with a Retry-After that matches the message.
func checkThrottled(t *testing.T, status int, h http.Header, body []byte) {
	t.Helper()
	if status != http.StatusTooManyRequests {
		t.Fatalf("status %d, want 429; body %s", status, body)
	}
	m := throttleMsg.FindSubmatch(body)
	if m == nil {
		t.Fatalf("429 body %s", body)
	}
	if ra := h.Get("Retry-After"); ra != string(m[1]) {
		t.Fatalf("Retry-After %q, body says %s", ra, m[1])
	}
	if n, _ := strconv.Atoi(string(m[1])); n < 1 {
		t.Fatalf("Retry-After %d", n)
	}
}

// A window so long that a test never straddles two windows (fixed windows are aligned to the epoch).
const longWindow = 10000 * time.Hour

func TestAuthRateLimits(t *testing.T) {
	t.Parallel()
	client := &http.Client{Timeout: 30 * time.Second}

	t.Run("registration per address", func(t *testing.T) {
		t.Parallel()
		e := apitest.New(t, func(c *config.Config) {
			c.RateLimit.Enabled, c.RateLimit.RegisterPerAddress, c.RateLimit.RegisterWindow = true, 2, longWindow
		})
		for i := range 2 {
			if st, _, b, _ := rawPost(client, e.URL+"/api/auth/register/", register(fmt.Sprint("u", i), fmt.Sprint("u", i, "@example.com"), pw, pw)); st != 201 {
				t.Fatalf("registration %d: %d %s", i, st, b)
			}
		}
		st, h, b, _ := rawPost(client, e.URL+"/api/auth/register/", register("u9", "u9@example.com", pw, pw))
		checkThrottled(t, st, h, b)
	})

	t.Run("login per username", func(t *testing.T) {
		t.Parallel()
		e := apitest.New(t, func(c *config.Config) {
			c.RateLimit.Enabled, c.RateLimit.LoginPerUsername, c.RateLimit.LoginPerAddress, c.RateLimit.LoginWindow = true, 3, 100, longWindow
		})
		e.Register(t, "alice")
		e.Register(t, "bob")
		for i := range 3 {
			if st, _, b, _ := rawPost(client, e.URL+"/api/auth/login/", map[string]string{"username": "alice", "password": "wrong"}); st != 401 {
				t.Fatalf("attempt %d: %d %s", i, st, b)
			}
		}
		// Even the right password waits now, and another spelling of the name is the same bucket.
		for _, u := range []string{"alice", "ALICE"} {
			st, h, b, _ := rawPost(client, e.URL+"/api/auth/login/", map[string]string{"username": u, "password": pw})
			checkThrottled(t, st, h, b)
		}
		if st, _, b, _ := rawPost(client, e.URL+"/api/auth/login/", map[string]string{"username": "bob", "password": pw}); st != 200 {
			t.Fatalf("another user from the same address: %d %s", st, b)
		}
		// The answer is JSON through the harness too (and matches the OpenAPI document).
		r := e.Post("/api/auth/login/", "", map[string]string{"username": "alice", "password": pw})
		checkThrottled(t, r.Status, r.Header, r.Body)
	})

	t.Run("login per address", func(t *testing.T) {
		t.Parallel()
		e := apitest.New(t, func(c *config.Config) {
			c.RateLimit.Enabled, c.RateLimit.LoginPerUsername, c.RateLimit.LoginPerAddress, c.RateLimit.LoginWindow = true, 100, 2, longWindow
		})
		e.Register(t, "alice")
		for _, u := range []string{"nobody1", "nobody2"} {
			if st, _, b, _ := rawPost(client, e.URL+"/api/auth/login/", map[string]string{"username": u, "password": "x"}); st != 401 {
				t.Fatalf("%s: %d %s", u, st, b)
			}
		}
		st, h, b, _ := rawPost(client, e.URL+"/api/auth/login/", map[string]string{"username": "alice", "password": pw})
		checkThrottled(t, st, h, b)
	})

	t.Run("counter is one atomic upsert", func(t *testing.T) {
		t.Parallel()
		e := apitest.New(t)
		const n = 40
		seen := make([]bool, n+1)
		var mu sync.Mutex
		var wg sync.WaitGroup
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				hits, left, err := e.Store().Hit(t.Context(), "test:bucket", time.Hour)
				if err != nil || hits < 1 || hits > n || left <= 0 || left > time.Hour {
					t.Errorf("hit: %d %v %v", hits, left, err)
					return
				}
				mu.Lock()
				defer mu.Unlock()
				if seen[hits] {
					t.Errorf("count %d returned twice", hits)
				}
				seen[hits] = true
			}()
		}
		wg.Wait()
	})
}
