package api_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"healthcare/app/api/apitest"
	"healthcare/app/config"
)

// TestLogoutUnderLoad: reads are coalesced across requests (store.coalescer), and still every
// request that starts after a logout's answer is refused, while requests of other logins go on.
func TestLogoutUnderLoad(t *testing.T) {
	t.Parallel()
	e := apitest.New(t)
	e.Register(t, "alice")
	access, refresh := e.Login("alice")
	other, _ := e.Login("alice") // a second login of the same user: unaffected
	r := e.Do(apitest.Request{Method: "POST", Path: "/api/patients/", Token: access,
		Body: map[string]any{"name": "P", "age": 1, "gender": "F", "address": "a", "phone_number": "1"}})
	if r.Status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	var p struct{ ID int64 }
	r.Decode(t, &p)
	path := fmt.Sprintf("/api/patients/%d/", p.ID)

	var loggedOut atomic.Bool
	var total, after, refusedAfter, otherOK atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				tok := access
				if i%2 == 1 {
					tok = other
				}
				started := loggedOut.Load()
				r := e.Do(apitest.Request{Method: "GET", Path: path, Token: tok})
				total.Add(1)
				switch {
				case tok == other:
					if r.Status != http.StatusOK {
						t.Errorf("the other login: %d %s", r.Status, r.Body)
					}
					otherOK.Add(1)
				case started:
					after.Add(1)
					if r.Status != http.StatusUnauthorized {
						t.Errorf("a request that started after the logout's answer: %d %s", r.Status, r.Body)
					} else {
						refusedAfter.Add(1)
					}
				case r.Status != http.StatusOK && r.Status != http.StatusUnauthorized:
					t.Errorf("during the logout: %d %s", r.Status, r.Body)
				}
			}
		}()
	}
	waitFor := func(n *atomic.Int64, want int64) {
		for n.Load() < want {
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitFor(&total, 100) // readers running before the logout
	if r := e.Post("/api/auth/logout/", "", map[string]string{"refresh": refresh}); r.Status != http.StatusNoContent {
		t.Fatalf("logout: %d %s", r.Status, r.Body)
	}
	loggedOut.Store(true)
	waitFor(&after, 100)
	close(stop)
	wg.Wait()
	if after.Load() == 0 || otherOK.Load() == 0 {
		t.Fatalf("no request ran after the logout (%d) or with the other login (%d)", after.Load(), otherOK.Load())
	}
	t.Logf("%d requests after the logout, all refused; %d with the other login", refusedAfter.Load(), otherOK.Load())
}

// TestCoalescedReadsStayOwn: concurrent reads of two users' patients, coalesced into shared
// statements, each see only their own owner's rows (someone else's is 404).
func TestCoalescedReadsStayOwn(t *testing.T) {
	t.Parallel()
	f := newResFixture(t, "alice", "bob")
	ids := map[string][]int64{}
	for _, u := range []string{"alice", "bob"} {
		for i := 0; i < 5; i++ {
			ids[u] = append(ids[u], f.create(t, "/api/patients/", u,
				fmt.Sprintf(`{"name": "%s %d", "age": %d, "gender": "M", "address": "a", "phone_number": "%d"}`, u, i, i, i)))
		}
	}
	var wg sync.WaitGroup
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				as, owner := "alice", []string{"alice", "bob"}[(w+i)%2]
				if w%2 == 1 {
					as = "bob"
				}
				id := ids[owner][i%5]
				for _, suffix := range []string{"/", "/doctors/"} {
					r := f.do(t, "GET", fmt.Sprintf("/api/patients/%d%s", id, suffix), as, "")
					want := http.StatusOK
					if as != owner {
						want = http.StatusNotFound
					}
					if r.Status != want {
						t.Errorf("%s reads %s's patient %d%s: %d %s", as, owner, id, suffix, r.Status, r.Body)
					}
					if suffix == "/" && want == http.StatusOK {
						var p struct{ ManagedBy string `json:"managed_by"` }
						r.Decode(t, &p)
						if p.ManagedBy != owner {
							t.Errorf("%s's patient %d answered as %q's", owner, id, p.ManagedBy)
						}
					}
				}
			}
		}()
	}
	wg.Wait()
}

// TestSearchTooSlow: a search past database.search_timeout is a 503 asking to narrow it, with
// Retry-After; a list without a search is not affected.
func TestSearchTooSlow(t *testing.T) {
	t.Parallel()
	e := apitest.New(t, func(c *config.Config) { c.Database.SearchTimeout = time.Nanosecond })
	e.DatabaseTrouble = true // the 503s are this test's point
	e.Register(t, "alice")
	access, _ := e.Login("alice")
	for _, path := range []string{"/api/patients/?search=x", "/api/doctors/?search=x"} {
		r := e.Do(apitest.Request{Method: "GET", Path: path, Token: access})
		if r.Status != http.StatusServiceUnavailable || r.Header.Get("Retry-After") == "" {
			t.Errorf("%s: %d %s (Retry-After %q)", path, r.Status, r.Body, r.Header.Get("Retry-After"))
		}
	}
	if r := e.Do(apitest.Request{Method: "GET", Path: "/api/patients/", Token: access}); r.Status != http.StatusOK {
		t.Errorf("list without search: %d %s", r.Status, r.Body)
	}
}

// TestConcurrentCreates: patients created at once share statements and commits; still each
// request gets its own patient, a phone number used twice at once is created once and the other
// request gets the DRF duplicate error, and other users' phone numbers do not collide.
func TestConcurrentCreates(t *testing.T) {
	t.Parallel()
	f := newResFixture(t, "alice", "bob")
	type result struct {
		as, phone string
		status    int
		body      string
	}
	results := make(chan result, 200)
	var wg sync.WaitGroup
	for i := 0; i < 60; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			as := []string{"alice", "bob"}[i%2]
			phone := fmt.Sprintf("555-%d", i/4) // each phone twice per user
			r := f.do(t, "POST", "/api/patients/", as, fmt.Sprintf(
				`{"name": "N%d", "age": %d, "gender": "F", "address": "%d Rd, Town", "phone_number": "%s"}`, i, i, i, phone))
			results <- result{as, phone, r.Status, string(r.Body)}
		}()
	}
	wg.Wait()
	close(results)
	created := map[string]int{}
	for r := range results {
		switch r.status {
		case http.StatusCreated:
			created[r.as+" "+r.phone]++
			if !strings.Contains(r.body, `"managed_by":"`+r.as+`"`) || !strings.Contains(r.body, `"phone_number":"`+r.phone+`"`) {
				t.Errorf("%s created %s: %s", r.as, r.phone, r.body)
			}
		case http.StatusBadRequest:
			if r.body != `{"phone_number":["patient with this phone number already exists."]}` {
				t.Errorf("duplicate: %s", r.body)
			}
		default:
			t.Errorf("%s %s: %d %s", r.as, r.phone, r.status, r.body)
		}
	}
	if len(created) != 30 {
		t.Errorf("%d (user, phone) pairs created, want 30", len(created))
	}
	for k, n := range created {
		if n != 1 {
			t.Errorf("%s created %d times", k, n)
		}
	}
	for _, as := range []string{"alice", "bob"} {
		r := f.do(t, "GET", "/api/patients/?limit=1000", as, "")
		var list []struct{ ManagedBy string `json:"managed_by"` }
		r.Decode(t, &list)
		if len(list) != 15 {
			t.Errorf("%s has %d patients, want 15", as, len(list))
		}
	}
}
