package api_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"healthcare/app/api/apitest"
)

// This file holds the scenario runner of the doctors, patients and mappings tests. A scenario
// table reads like the transcripts: one request, the status and the exact JSON expected. Tables
// run in order against one server, because the transcripts are sequences (create, then edit...).

// resScenario is one request and what must come back.
type resScenario struct {
	Name   string
	Method string
	URL    string            // may hold {{var}} placeholders
	Body   string            // raw request body, may hold {{var}}; sent as application/json
	As     string            // "alice", "bob", ... or "" for no Authorization header
	Header map[string]string // extra headers (Content-Type overrides the default)
	Status int
	// JSON is the expected body as an ordered pattern: objects must have the same keys in the same
	// order; "*" matches any value, "*ts" a DRF timestamp, "*int" any integer. Empty: not checked.
	JSON      string
	Contains  []string                                           // substrings the body must contain
	Absent    []string                                           // substrings the body must not contain
	Save      string                                             // store the response's "id" as {{Save}}
	NoOpenAPI bool                                               // deliberately malformed request
	Check     func(t *testing.T, r *apitest.Response, v resVars) // extra assertions
}

// resVars are the values scenarios refer to as {{name}}: saved ids, tokens' owners...
type resVars map[string]string

func (v resVars) expand(s string) string {
	for k, val := range v {
		s = strings.ReplaceAll(s, "{{"+k+"}}", val)
	}
	return s
}

// resFixture is a server with two users, alice and bob, logged in.
type resFixture struct {
	env    *apitest.Env
	tokens map[string]string
	vars   resVars
}

const resPassword = "Str0ng!Passw0rd"

// newResFixture starts a server with a fresh database and registers and logs in the given users
// through the API itself (POST /api/auth/register/ and /api/auth/login/).
func newResFixture(t testing.TB, users ...string) *resFixture {
	t.Helper()
	if len(users) == 0 {
		users = []string{"alice", "bob"}
	}
	f := &resFixture{env: apitest.New(t), tokens: map[string]string{}, vars: resVars{}}
	for _, u := range users {
		f.tokens[u] = resLogin(t, f.env, u)
	}
	return f
}

// resLogin registers user and returns an access token.
func resLogin(t testing.TB, e *apitest.Env, user string) string {
	t.Helper()
	r := e.Post("/api/auth/register/", "", map[string]string{
		"username": user, "email": user + "@example.com", "password": resPassword, "password2": resPassword,
	})
	if r.Status != http.StatusCreated {
		t.Fatalf("register %s: %d %s", user, r.Status, r.Body)
	}
	r = e.Post("/api/auth/login/", "", map[string]string{"username": user, "password": resPassword})
	if r.Status != http.StatusOK {
		t.Fatalf("login %s: %d %s", user, r.Status, r.Body)
	}
	var tok struct{ Access string }
	r.Decode(t, &tok)
	if tok.Access == "" {
		t.Fatalf("login %s: no access token in %s", user, r.Body)
	}
	return tok.Access
}

// do sends one request as user ("" for anonymous) with a raw JSON body.
func (f *resFixture) do(t testing.TB, method, url, as, body string) *apitest.Response {
	t.Helper()
	req := apitest.Request{Method: method, Path: f.vars.expand(url), Token: f.tokens[as]}
	if body != "" {
		req.Body = f.vars.expand(body)
	}
	return f.env.Do(req)
}

// create POSTs body and returns the new object's id, failing unless it is a 201.
func (f *resFixture) create(t testing.TB, url, as, body string) int64 {
	t.Helper()
	r := f.do(t, http.MethodPost, url, as, body)
	if r.Status != http.StatusCreated {
		t.Fatalf("POST %s %s: %d %s", url, body, r.Status, r.Body)
	}
	var v struct{ ID int64 }
	r.Decode(t, &v)
	return v.ID
}

// run executes the scenarios in order, each as a subtest.
func (f *resFixture) run(t *testing.T, scenarios []resScenario) {
	t.Helper()
	for _, s := range scenarios {
		ok := t.Run(s.Name, func(t *testing.T) {
			req := apitest.Request{Method: s.Method, Path: f.vars.expand(s.URL), Header: s.Header, NoOpenAPI: s.NoOpenAPI}
			if s.As != "" {
				tok, ok := f.tokens[s.As]
				if !ok {
					t.Fatalf("no user %q", s.As)
				}
				req.Token = tok
			}
			if s.Body != "" {
				req.Body = f.vars.expand(s.Body)
			}
			parent := f.env.T
			f.env.T = t // failures inside Do belong to this subtest
			defer func() { f.env.T = parent }()
			r := f.env.Do(req)
			resCheckResponse(t, s.Method, r)
			if r.Status != s.Status {
				t.Fatalf("%s %s: status %d, want %d; body %s", s.Method, req.Path, r.Status, s.Status, r.Body)
			}
			if s.JSON != "" {
				resMatchJSON(t, r.Body, f.vars.expand(s.JSON))
			}
			for _, c := range s.Contains {
				if !bytes.Contains(r.Body, []byte(f.vars.expand(c))) {
					t.Errorf("body %s does not contain %q", r.Body, c)
				}
			}
			for _, c := range s.Absent {
				if bytes.Contains(r.Body, []byte(f.vars.expand(c))) {
					t.Errorf("body %s contains %q", r.Body, c)
				}
			}
			if s.Save != "" {
				var v struct{ ID int64 }
				r.Decode(t, &v)
				f.vars[s.Save] = strconv.FormatInt(v.ID, 10)
			}
			if s.Check != nil {
				s.Check(t, r, f.vars)
			}
		})
		if !ok {
			t.FailNow() // later steps of a sequence depend on earlier ones
		}
	}
}

// resCheckResponse asserts what holds for every response: never a 5xx, JSON unless 204, and a
// 204 has no body.
func resCheckResponse(t testing.TB, method string, r *apitest.Response) {
	t.Helper()
	if r.Status >= 500 {
		t.Fatalf("server error %d: %s", r.Status, r.Body)
	}
	if r.Status == http.StatusNoContent {
		if len(r.Body) != 0 {
			t.Errorf("204 with a body: %q", r.Body)
		}
		return
	}
	if method == http.MethodHead {
		return
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q, want application/json; body %q", ct, r.Body)
	}
	if !json.Valid(r.Body) {
		t.Errorf("body is not JSON: %q", r.Body)
	}
}

// orderedObject keeps a JSON object's keys in document order.
type orderedObject struct {
	keys []string
	vals []any
}

// resDecodeOrdered decodes one JSON value, objects as orderedObject.
func resDecodeOrdered(dec *json.Decoder) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return tok, nil
	}
	switch d {
	case '{':
		o := &orderedObject{}
		for dec.More() {
			k, err := dec.Token()
			if err != nil {
				return nil, err
			}
			v, err := resDecodeOrdered(dec)
			if err != nil {
				return nil, err
			}
			o.keys = append(o.keys, k.(string))
			o.vals = append(o.vals, v)
		}
		_, err := dec.Token()
		return o, err
	case '[':
		a := []any{}
		for dec.More() {
			v, err := resDecodeOrdered(dec)
			if err != nil {
				return nil, err
			}
			a = append(a, v)
		}
		_, err := dec.Token()
		return a, err
	}
	return nil, fmt.Errorf("unexpected %v", d)
}

func resParseOrdered(t testing.TB, what string, data []byte) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := resDecodeOrdered(dec)
	if err != nil {
		t.Fatalf("%s is not JSON (%v): %q", what, err, data)
	}
	return v
}

// drfTimestamp is the API's timestamp format: UTC, six fractional digits, Z.
var drfTimestamp = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$`)

// resMatchJSON compares a response body with a pattern (see resScenario.JSON).
func resMatchJSON(t testing.TB, got []byte, want string) {
	t.Helper()
	g := resParseOrdered(t, "response", got)
	w := resParseOrdered(t, "pattern", []byte(want))
	if msg := resMatch(g, w, "$"); msg != "" {
		t.Errorf("%s\n got: %s\nwant: %s", msg, got, want)
	}
}

func resMatch(got, want any, path string) string {
	switch w := want.(type) {
	case string:
		switch w {
		case "*":
			return ""
		case "*ts":
			if s, ok := got.(string); ok && drfTimestamp.MatchString(s) {
				return ""
			}
			return fmt.Sprintf("%s: %v is not a DRF timestamp", path, got)
		case "*int":
			if n, ok := got.(json.Number); ok {
				if _, err := n.Int64(); err == nil {
					return ""
				}
			}
			return fmt.Sprintf("%s: %v is not an integer", path, got)
		}
		if s, ok := got.(string); !ok || s != w {
			return fmt.Sprintf("%s: got %#v, want %q", path, got, w)
		}
	case *orderedObject:
		g, ok := got.(*orderedObject)
		if !ok {
			return fmt.Sprintf("%s: got %T, want an object", path, got)
		}
		if strings.Join(g.keys, ",") != strings.Join(w.keys, ",") {
			return fmt.Sprintf("%s: keys %v, want %v (in this order)", path, g.keys, w.keys)
		}
		for i := range w.keys {
			if msg := resMatch(g.vals[i], w.vals[i], path+"."+w.keys[i]); msg != "" {
				return msg
			}
		}
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return fmt.Sprintf("%s: got %v, want an array of %d", path, got, len(w))
		}
		for i := range w {
			if msg := resMatch(g[i], w[i], fmt.Sprintf("%s[%d]", path, i)); msg != "" {
				return msg
			}
		}
	default:
		if fmt.Sprint(got) != fmt.Sprint(want) {
			return fmt.Sprintf("%s: got %v, want %v", path, got, want)
		}
	}
	return ""
}

// resOversized sends a body larger than the server's cap over a raw connection and returns the
// response. The server answers 413 and closes without reading the rest, so Go's HTTP client
// may fail while still writing; here the write error is ignored and the response read anyway.
func (f *resFixture) resOversized(t testing.TB, method, path, as string, size int) *apitest.Response {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(f.env.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	head := fmt.Sprintf("%s %s HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: %d\r\nAuthorization: Bearer %s\r\n\r\n",
		method, path, size, f.tokens[as])
	go func() {
		body := bytes.Repeat([]byte("a"), size)
		_, _ = conn.Write(append([]byte(head), body...))
	}()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return &apitest.Response{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// resID is an id inside a pattern: a number (or {{var}}), or "*int" for any integer.
func resID(id string) string {
	if strings.HasPrefix(id, "*") {
		return `"` + id + `"`
	}
	return id
}

// resParallel sends n copies of the same request at once and counts the statuses.
func (f *resFixture) resParallel(t *testing.T, n int, method, url, as, body string) map[int]int {
	t.Helper()
	var (
		mu     sync.Mutex
		wg     sync.WaitGroup
		counts = map[int]int{}
		start  = make(chan struct{})
	)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			r := f.do(t, method, url, as, body)
			resCheckResponse(t, method, r)
			mu.Lock()
			counts[r.Status]++
			mu.Unlock()
		}()
	}
	close(start)
	wg.Wait()
	return counts
}
