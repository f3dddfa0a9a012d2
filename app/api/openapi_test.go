package api_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"healthcare/app/api"
	"healthcare/app/api/apitest"
	"healthcare/app/config"
)

// TestOpenAPIDocumentIsValid: the document parses and validates as OpenAPI 3.1 (kin-openapi),
// which apitest also requires before checking any request against it.
func TestOpenAPIDocumentIsValid(t *testing.T) {
	t.Parallel()
	doc, err := apitest.LoadOpenAPI()
	if err != nil {
		t.Fatal(err)
	}
	if doc.OpenAPI != "3.1.0" || !doc.IsOpenAPI31OrLater() {
		t.Errorf("openapi = %q, want 3.1.0", doc.OpenAPI)
	}
	if doc.Components == nil || doc.Components.SecuritySchemes["bearerAuth"] == nil {
		t.Fatal("no bearerAuth security scheme")
	}
	if s := doc.Components.SecuritySchemes["bearerAuth"].Value; s.Type != "http" || s.Scheme != "bearer" || s.BearerFormat != "JWT" {
		t.Errorf("bearerAuth = %+v, want http bearer JWT", s)
	}
	// Every operation has an id, a summary and its error responses.
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			if op.OperationID == "" || op.Summary == "" {
				t.Errorf("%s %s: missing operationId or summary", method, path)
			}
			public := op.Security != nil && len(*op.Security) == 0
			if !public && op.Responses.Status(http.StatusUnauthorized) == nil {
				t.Errorf("%s %s: protected, but no 401 response", method, path)
			}
			// Whatever needs the database may find it away (503) or its disk full (507).
			if !noDatabase[method+" "+path] && !(public && method == http.MethodOptions) {
				for _, code := range []int{503, 507} {
					if op.Responses.Status(code) == nil {
						t.Errorf("%s %s: needs the database, but no %d response", method, path, code)
					}
				}
			}
			if op.RequestBody != nil {
				for _, code := range []int{400, 413, 415} {
					if op.Responses.Status(code) == nil {
						t.Errorf("%s %s: takes a body, but no %d response", method, path, code)
					}
				}
			}
		}
	}
}

// noDatabase are the operations that answer without the database (the public OPTIONS aside).
// /readyz asks it, but answers its own 503 and never a 507.
var noDatabase = map[string]bool{
	"GET /healthz": true, "GET /readyz": true, "GET /api/openapi.json": true, "GET /api/docs/": true, "GET /api/docs/{asset}": true,
}

// fiberParam matches a Fiber route parameter (":id", ":id?", "*").
var fiberParam = regexp.MustCompile(`:([A-Za-z0-9_]+)\??`)

// normalise makes a route comparable with a document path: {param} syntax, no trailing slash.
func normalise(path string) string {
	path = fiberParam.ReplaceAllString(path, "{$1}")
	if len(path) > 1 {
		path = strings.TrimSuffix(path, "/")
	}
	return path
}

// TestOpenAPIDocumentsEveryRoute fails when the server has a route the document lacks, or the
// document an operation the server does not route, so the two cannot drift apart.
func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	t.Parallel()
	ops, err := apitest.Operations()
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for _, op := range ops {
		method, path, _ := strings.Cut(op, " ")
		documented[method+" "+normalise(path)] = true
	}
	served := map[string]bool{}
	for _, r := range apitest.Routes(t) {
		path := normalise(r.Path)
		// HEAD is GET without a body (Fiber adds it to every GET); routes that only answer 405 are
		// no operations; the admin UI's files are not API.
		if r.Method == http.MethodHead || r.Name == api.NotAllowedRoute {
			continue
		}
		if path != "/healthz" && path != "/readyz" && path != "/api" && !strings.HasPrefix(path, "/api/") {
			continue
		}
		served[r.Method+" "+path] = true
	}
	for _, k := range sortedKeys(served) {
		if !documented[k] {
			t.Errorf("the server routes %s, but app/api/openapi.json does not document it", k)
		}
	}
	for _, k := range sortedKeys(documented) {
		if !served[k] {
			t.Errorf("app/api/openapi.json documents %s, but the server has no such route", k)
		}
	}
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestOpenAPIServed: the document is served as JSON with an ETag, and revalidation works.
func TestOpenAPIServed(t *testing.T) {
	t.Parallel()
	e := apitest.New(t)
	for _, path := range []string{"/api/openapi.json", "/api/openapi.json/"} {
		r := e.Get(path, "")
		if r.Status != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, r.Status, r.Body)
		}
		if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Errorf("GET %s: Content-Type %q", path, ct)
		}
		if !bytes.Equal(r.Body, api.OpenAPIDocument) {
			t.Errorf("GET %s: body differs from the embedded document", path)
		}
		etag := r.Header.Get("ETag")
		if etag == "" || r.Header.Get("Cache-Control") == "" {
			t.Fatalf("GET %s: ETag %q, Cache-Control %q", path, etag, r.Header.Get("Cache-Control"))
		}
		r = e.Do(apitest.Request{Method: http.MethodGet, Path: path, Header: map[string]string{"If-None-Match": etag}})
		if r.Status != http.StatusNotModified || len(r.Body) != 0 {
			t.Errorf("GET %s with If-None-Match: %d %q, want 304 and no body", path, r.Status, r.Body)
		}
	}
}

// assetRef finds the src and href attributes of the page.
var assetRef = regexp.MustCompile(`(?:src|href)="([^"]*)"`)

// TestAPIDocsPage: /api/docs (with and without the slash) is the viewer's page, public, with no
// external URL and no inline script or style, and every file it references loads.
func TestAPIDocsPage(t *testing.T) {
	t.Parallel()
	e := apitest.New(t)
	for _, path := range []string{"/api/docs", "/api/docs/"} {
		r := e.Get(path, "")
		if r.Status != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, r.Status, r.Body)
		}
		if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
			t.Errorf("GET %s: Content-Type %q", path, ct)
		}
		csp := r.Header.Get("Content-Security-Policy")
		for _, want := range []string{"script-src 'self'", "style-src 'self'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("GET %s: CSP %q lacks %q", path, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe-") {
			t.Errorf("GET %s: CSP %q allows unsafe sources", path, csp)
		}
		html := string(r.Body)
		if strings.Contains(html, "http://") || strings.Contains(html, "https://") || strings.Contains(html, "//cdn") {
			t.Errorf("GET %s: the page refers to an external URL:\n%s", path, html)
		}
		if regexp.MustCompile(`<script>|<script [^>]*>[^<\s]|<style|style="`).MatchString(html) {
			t.Errorf("GET %s: inline script or style (the CSP forbids them):\n%s", path, html)
		}
	}

	page := string(e.Get("/api/docs/", "").Body)
	wantTypes := map[string]string{".js": "text/javascript", ".css": "text/css"}
	seen := 0
	for _, m := range assetRef.FindAllStringSubmatch(page, -1) {
		ref := m[1]
		if !strings.HasPrefix(ref, "/") || strings.HasPrefix(ref, "//") {
			t.Errorf("reference %q is not a local absolute path", ref)
			continue
		}
		r := e.Get(ref, "")
		if r.Status != http.StatusOK || len(r.Body) == 0 {
			t.Errorf("GET %s: %d (%d bytes)", ref, r.Status, len(r.Body))
			continue
		}
		for ext, ct := range wantTypes {
			if strings.HasSuffix(ref, ext) && !strings.HasPrefix(r.Header.Get("Content-Type"), ct) {
				t.Errorf("GET %s: Content-Type %q, want %s", ref, r.Header.Get("Content-Type"), ct)
			}
		}
		if strings.HasPrefix(ref, "/api/docs/") {
			seen++
		}
	}
	if seen < 3 { // the bundle, its stylesheet and our init script at least
		t.Errorf("the page loads %d viewer files, want the bundle, its CSS and init.js:\n%s", seen, page)
	}
	// The bundle is served gzipped to clients that accept it, with its own ETag.
	plain := e.Do(apitest.Request{Method: "GET", Path: "/api/docs/swagger-ui-bundle.js", Header: map[string]string{"Accept-Encoding": "identity"}})
	zipped := e.Do(apitest.Request{Method: "GET", Path: "/api/docs/swagger-ui-bundle.js", Header: map[string]string{"Accept-Encoding": "gzip"}})
	if zipped.Header.Get("Content-Encoding") != "gzip" || plain.Header.Get("Content-Encoding") != "" ||
		zipped.Header.Get("ETag") == plain.Header.Get("ETag") || len(zipped.Body) >= len(plain.Body)/2 {
		t.Errorf("gzip: %q %q, etags %q %q, %d vs %d bytes", zipped.Header.Get("Content-Encoding"), plain.Header.Get("Content-Encoding"),
			zipped.Header.Get("ETag"), plain.Header.Get("ETag"), len(zipped.Body), len(plain.Body))
	} else if zr, err := gzip.NewReader(bytes.NewReader(zipped.Body)); err != nil {
		t.Error(err)
	} else if unzipped, err := io.ReadAll(zr); err != nil || !bytes.Equal(unzipped, plain.Body) {
		t.Errorf("gzipped bundle differs from the plain one (%v)", err)
	}
	if r := e.Get("/api/docs/LICENSE", ""); r.Status != http.StatusOK || !strings.Contains(string(r.Body), "Apache License") {
		t.Errorf("GET /api/docs/LICENSE: %d", r.Status)
	}
	if r := e.Get("/api/docs/nothing.js", ""); r.Status != http.StatusNotFound {
		t.Errorf("GET /api/docs/nothing.js: %d, want 404", r.Status)
	}
	if r := e.Get("/api/docs/index.html/../../openapi.json", ""); r.Status == http.StatusOK && !bytes.Equal(r.Body, api.OpenAPIDocument) {
		t.Errorf("path traversal served something: %d", r.Status)
	}
}

// TestOpenAPITour makes one successful request to every operation of the document, in the order a
// client would, so each success response is validated against its schema (apitest checks every
// request and response) even where the behaviour suites only probe errors.
func TestOpenAPITour(t *testing.T) {
	t.Parallel()
	e := apitest.New(t)
	expect := func(r *apitest.Response, status int, what string) *apitest.Response {
		t.Helper()
		if r.Status != status {
			t.Fatalf("%s: %d, want %d: %s", what, r.Status, status, r.Body)
		}
		return r
	}
	id := func(r *apitest.Response) string {
		t.Helper()
		var v struct{ ID int64 }
		r.Decode(t, &v)
		return strconv.FormatInt(v.ID, 10)
	}

	expect(e.Get("/healthz", ""), http.StatusOK, "healthz")
	expect(e.Get("/readyz", ""), http.StatusOK, "readyz")

	e.Register(t, "tourist")
	access, refresh := e.Login("tourist")
	expect(e.Get("/api/auth/me/", access), http.StatusOK, "me")
	var pair struct{ Access, Refresh string }
	expect(e.Post("/api/auth/login/refresh/", "", map[string]string{"refresh": refresh}), http.StatusOK, "refresh").Decode(t, &pair)
	access = pair.Access

	doctor := id(expect(e.Post("/api/doctors/", access, map[string]any{
		"name": "Alice Wonderland", "specialization": "Cardiology", "contact_info": "alice@wonder.land"}), http.StatusCreated, "create doctor"))
	other := id(expect(e.Post("/api/doctors", access, map[string]any{
		"name": "Jay Taimus", "specialization": "Dermatology", "contact_info": "jay@wonder.land"}), http.StatusCreated, "create doctor"))
	expect(e.Get("/api/doctors/?limit=1&ordering=-name&search=wonder&specialization=cardiology", access), http.StatusOK, "list doctors")
	expect(e.Get("/api/doctors/"+doctor+"/", access), http.StatusOK, "get doctor")
	expect(e.Put("/api/doctors/"+doctor+"/", access, map[string]any{
		"name": "Alice W.", "specialization": "Neurology", "contact_info": "alice@wonder.land"}), http.StatusOK, "put doctor")
	expect(e.Patch("/api/doctors/"+doctor, access, map[string]any{"specialization": "Cardiology"}), http.StatusOK, "patch doctor")

	patient := id(expect(e.Post("/api/patients/", access, map[string]any{
		"name": "John Doe", "age": 35, "gender": "M", "address": "123 Main St", "phone_number": "555-0101"}), http.StatusCreated, "create patient"))
	expect(e.Get("/api/patients/?gender=M&ordering=-age&search=john&limit=10&offset=0", access), http.StatusOK, "list patients")
	expect(e.Get("/api/patients/"+patient+"/", access), http.StatusOK, "get patient")
	expect(e.Put("/api/patients/"+patient+"/", access, map[string]any{
		"name": "John D.", "age": "36", "gender": "M", "address": "124 Main St", "phone_number": "555-0101"}), http.StatusOK, "put patient")
	expect(e.Patch("/api/patients/"+patient+"/", access, map[string]any{"age": 37}), http.StatusOK, "patch patient")

	mapping := id(expect(e.Post("/api/mappings/", access, map[string]any{"patient": patient, "doctor": doctor}), http.StatusCreated, "create mapping"))
	expect(e.Get("/api/mappings/?ordering=-assigned_at", access), http.StatusOK, "list mappings")
	expect(e.Get("/api/mappings/"+mapping+"/", access), http.StatusOK, "get mapping")
	expect(e.Put("/api/mappings/"+mapping+"/", access, map[string]any{"patient": patient, "doctor": other}), http.StatusOK, "put mapping")
	expect(e.Patch("/api/mappings/"+mapping+"/", access, map[string]any{"doctor": doctor}), http.StatusOK, "patch mapping")
	expect(e.Get("/api/patients/"+patient+"/doctors/", access), http.StatusOK, "patient doctors")
	expect(e.Delete("/api/mappings/"+mapping+"/", access), http.StatusNoContent, "delete mapping")
	expect(e.Delete("/api/doctors/"+other+"/", access), http.StatusNoContent, "delete doctor")
	expect(e.Delete("/api/patients/"+patient+"/", access), http.StatusNoContent, "delete patient")

	expect(e.Post("/api/auth/logout/", "", map[string]string{"refresh": pair.Refresh}), http.StatusNoContent, "logout")

	// The caller's own account: password and sessions.
	access, _ = e.Login("tourist")
	e.Login("tourist") // a second login, to end
	var sessions []struct {
		ID      string
		Current bool
	}
	expect(e.Get("/api/auth/sessions/", access), http.StatusOK, "list sessions").Decode(t, &sessions)
	for _, s := range sessions {
		if !s.Current {
			expect(e.Delete("/api/auth/sessions/"+s.ID+"/", access), http.StatusNoContent, "end a session")
			break
		}
	}
	e.Login("tourist")
	expect(e.Delete("/api/auth/sessions/", access), http.StatusNoContent, "end the other sessions")
	expect(e.Post("/api/auth/password/", access, map[string]string{"old_password": apitest.Password,
		"new_password1": "N3w!Passw0rd-tour", "new_password2": "N3w!Passw0rd-tour"}), http.StatusOK, "change password").Decode(t, &pair)

	// First-run setup and administration.
	expect(e.Get("/api/setup/", ""), http.StatusOK, "setup state")
	var setup struct{ Access string }
	expect(e.Post("/api/setup/", "", map[string]string{"token": e.SetupToken(), "username": "boss",
		"email": "boss@example.com", "password": apitest.Password}), http.StatusCreated, "setup").Decode(t, &setup)
	admin := setup.Access
	expect(e.Get("/api/admin/users/?search=tour&ordering=-date_joined&role=staff&is_active=true&limit=5", admin), http.StatusOK, "list users")
	user := id(expect(e.Post("/api/admin/users/", admin, map[string]any{"username": "clerk", "email": "clerk@example.com",
		"password": apitest.Password, "role": "staff"}), http.StatusCreated, "create user"))
	expect(e.Get("/api/admin/users/"+user+"/", admin), http.StatusOK, "get user")
	expect(e.Patch("/api/admin/users/"+user+"/", admin, map[string]any{"is_active": false}), http.StatusOK, "deactivate user")
	expect(e.Post("/api/admin/users/"+user+"/logout-everywhere/", admin, nil), http.StatusNoContent, "logout everywhere")
	expect(e.Get("/api/admin/settings/", admin), http.StatusOK, "get settings")
	expect(e.Put("/api/admin/settings/", admin, map[string]string{"registration": "approval", "doctors.writes": "admin"}), http.StatusOK, "put settings")
	var b struct{ Name string }
	expect(e.Post("/api/admin/backups/", admin, nil), http.StatusCreated, "back up").Decode(t, &b)
	expect(e.Get("/api/admin/backups/", admin), http.StatusOK, "list backups")
	expect(e.Get("/api/admin/backups/"+b.Name, admin), http.StatusOK, "download backup")
}

// TestOpenAPIErrorResponses provokes each documented error response (401 in its shapes, 400 in
// both shapes, 403, 404, 405, 415, 429) so apitest validates its body and headers against the
// document; the behaviour suites assert the exact messages.
func TestOpenAPIErrorResponses(t *testing.T) {
	t.Parallel()
	e := apitest.New(t)
	access, refresh := e.Login(registered(t, e, "alice"))
	cases := []struct {
		name   string
		req    apitest.Request
		status int
	}{
		{"no credentials", apitest.Request{Method: "GET", Path: "/api/doctors/"}, 401},
		{"garbage bearer", apitest.Request{Method: "GET", Path: "/api/doctors/", Token: "garbage"}, 401},
		{"refresh token as bearer", apitest.Request{Method: "GET", Path: "/api/patients/", Token: refresh}, 401},
		{"other scheme", apitest.Request{Method: "GET", Path: "/api/auth/me/", Header: map[string]string{"Authorization": "Token " + access}}, 401},
		{"wrong password", apitest.Request{Method: "POST", Path: "/api/auth/login/", Body: map[string]string{"username": "alice", "password": "nope"}}, 401},
		{"garbage refresh", apitest.Request{Method: "POST", Path: "/api/auth/login/refresh/", Body: map[string]string{"refresh": "garbage"}}, 401},
		{"access token to refresh", apitest.Request{Method: "POST", Path: "/api/auth/login/refresh/", Body: map[string]string{"refresh": access}}, 401},
		{"garbage logout", apitest.Request{Method: "POST", Path: "/api/auth/logout/", Body: map[string]string{"refresh": "garbage"}}, 401},
		{"register field errors", apitest.Request{Method: "POST", Path: "/api/auth/register/", Body: map[string]string{}}, 400},
		{"register malformed JSON", apitest.Request{Method: "POST", Path: "/api/auth/register/", Body: `{"username": `}, 400},
		{"register GET", apitest.Request{Method: "GET", Path: "/api/auth/register/"}, 405},
		{"login missing fields", apitest.Request{Method: "POST", Path: "/api/auth/login", Body: map[string]string{}}, 400},
		{"refresh missing field", apitest.Request{Method: "POST", Path: "/api/auth/login/refresh", Body: map[string]string{}}, 400},
		{"logout missing field", apitest.Request{Method: "POST", Path: "/api/auth/logout", Body: map[string]string{}}, 400},
		{"wrong content type", apitest.Request{Method: "POST", Path: "/api/doctors/", Token: access, Body: "name=x",
			Header: map[string]string{"Content-Type": "text/plain"}}, 415},
		{"bad limit", apitest.Request{Method: "GET", Path: "/api/doctors/?limit=0&ordering=contact_info", Token: access}, 400},
		{"bad gender filter", apitest.Request{Method: "GET", Path: "/api/patients/?gender=X", Token: access}, 400},
		{"bad mapping ordering", apitest.Request{Method: "GET", Path: "/api/mappings/?ordering=nope", Token: access}, 400},
		{"missing doctor", apitest.Request{Method: "GET", Path: "/api/doctors/9999/", Token: access}, 404},
		{"non-numeric id", apitest.Request{Method: "DELETE", Path: "/api/patients/abc/", Token: access}, 404},
		{"missing patient's doctors", apitest.Request{Method: "GET", Path: "/api/patients/9999/doctors/", Token: access}, 404},
		{"mapping to nothing", apitest.Request{Method: "POST", Path: "/api/mappings/", Token: access, Body: map[string]any{"patient": "abc", "doctor": 9999}}, 400},
		{"unknown path", apitest.Request{Method: "GET", Path: "/api/nothing/", Token: access}, 404},
		{"method not allowed", apitest.Request{Method: "POST", Path: "/api/patients/1/doctors/", Token: access, Body: map[string]any{}}, 405},
	}
	for _, c := range cases {
		if r := e.Do(c.req); r.Status != c.status {
			t.Errorf("%s: %s %s: %d, want %d: %s", c.name, c.req.Method, c.req.Path, r.Status, c.status, r.Body)
		}
	}

	closed := apitest.New(t, func(c *config.Config) { c.Auth.Registration = "closed" })
	if r := closed.Post("/api/auth/register/", "", map[string]string{"username": "bob", "email": "bob@example.com",
		"password": apitest.Password, "password2": apitest.Password}); r.Status != http.StatusForbidden {
		t.Errorf("register while closed: %d, want 403: %s", r.Status, r.Body)
	}

	limited := apitest.New(t, func(c *config.Config) { c.RateLimit.Enabled = true; c.RateLimit.LoginPerUsername = 1 })
	registered(t, limited, "carol")
	if r := limited.Post("/api/auth/login/", "", map[string]string{"username": "carol", "password": "wrong"}); r.Status != http.StatusUnauthorized {
		t.Errorf("failed login: %d, want 401: %s", r.Status, r.Body)
	}
	r := limited.Post("/api/auth/login/", "", map[string]string{"username": "carol", "password": apitest.Password})
	if r.Status != http.StatusTooManyRequests {
		t.Errorf("login after a failure over a limit of 1: %d, want 429: %s", r.Status, r.Body)
	}
}

// registered registers username and returns it.
func registered(t *testing.T, e *apitest.Env, username string) string {
	t.Helper()
	e.Register(t, username)
	return username
}

// TestAPIDocsInBrowser opens /api/docs in headless Chromium: Swagger UI must render every
// operation of the document under the page's Content-Security-Policy without a single violation
// or script error (it guards viewer upgrades). Skipped where Chromium is not installed, except in CI.
func TestAPIDocsInBrowser(t *testing.T) {
	t.Parallel()
	browser := ""
	for _, name := range []string{"/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			browser = p
			break
		}
	}
	if browser == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("chromium is not installed: the browser tests need it in CI")
		}
		t.Skip("chromium is not installed")
	}
	e := apitest.New(t)
	home := t.TempDir() // the tests may run as an unprivileged user whose HOME is not writable
	// Chromium leaves org.chromium.Chromium.* directories in its temp directory when it is killed:
	// give it one that is removed after it. Short: it holds a Unix socket (at most 107 bytes).
	chromeTemp, err := os.MkdirTemp("", "cr")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(chromeTemp)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(browser), chromedp.Headless, chromedp.NoSandbox, chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck, chromedp.UserDataDir(filepath.Join(home, "profile")),
		chromedp.Env("HOME="+home, "TMPDIR="+chromeTemp), chromedp.Flag("disable-gpu", true), chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-extensions", true),
		chromedp.WindowSize(1280, 900))
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(allocCtx)
	defer cancel()
	ctx, cancelTimeout := context.WithTimeout(ctx, 60*time.Second)
	defer cancelTimeout()
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	var mu sync.Mutex
	var problems []string
	go func() {
		for m, err := range chromedp.Console(ctx) {
			if err != nil {
				return
			}
			text := m.String()
			// The favicon is the admin UI's, which this test server does not mount.
			if strings.Contains(m.URL, "favicon") {
				continue
			}
			if m.IsException() || strings.Contains(text, "Content Security Policy") || strings.Contains(text, "Refused to") ||
				strings.HasPrefix(text, "error") {
				mu.Lock()
				problems = append(problems, fmt.Sprintf("%s (%s:%d)", text, m.URL, m.Line+1))
				mu.Unlock()
			}
		}
	}()
	if err := chromedp.Do(ctx, chromedp.Navigate(e.URL+"/api/docs"), chromedp.WaitVisible(chromedp.CSS(".opblock"))); err != nil {
		t.Fatalf("the API reference did not render: %v", err)
	}
	// Open one operation: its schemas and examples render through the syntax highlighter.
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#operations-Doctors-createDoctor .opblock-summary-control`)),
		chromedp.WaitVisible(chromedp.CSS(`#operations-Doctors-createDoctor .responses-table`))); err != nil {
		t.Fatalf("open an operation: %v", err)
	}
	n, err := chromedp.Run(ctx, chromedp.Evaluate[float64](`document.querySelectorAll(".opblock").length`))
	if err != nil {
		t.Fatal(err)
	}
	ops, _ := apitest.Operations()
	if int(n) != len(ops) {
		t.Errorf("the page shows %v operations, the document has %d", n, len(ops))
	}
	time.Sleep(200 * time.Millisecond) // let late console messages arrive
	mu.Lock()
	defer mu.Unlock()
	for _, p := range problems {
		t.Errorf("browser console: %s", p)
	}
}
