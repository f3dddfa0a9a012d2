package apitest

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/gofiber/fiber/v2"

	"healthcare/app/api"
	"healthcare/app/database/dbtest"
	"healthcare/app/server"
)

// spec is the OpenAPI document, loaded and validated once per test binary.
type spec struct {
	doc    *openapi3.T
	router routers.Router
	errors *openapi3.Schema // any DRF error body: field errors, {"detail"} or a token error
}

var (
	specOnce sync.Once
	specVal  *spec
	specErr  error

	exercisedMu sync.Mutex
	exercised   = map[string]int{} // "GET /api/doctors/" → requests seen
	succeeded   = map[string]int{} // the same, answered 2xx (a success response was validated)
)

// LoadOpenAPI parses and validates api.OpenAPIDocument (once) and returns it.
func LoadOpenAPI() (*openapi3.T, error) {
	s, err := loadSpec()
	if err != nil {
		return nil, err
	}
	return s.doc, nil
}

func loadSpec() (*spec, error) {
	specOnce.Do(func() {
		loader := openapi3.NewLoader()
		doc, err := loader.LoadFromData(api.OpenAPIDocument)
		if err != nil {
			specErr = fmt.Errorf("load openapi.json: %w", err)
			return
		}
		if err := doc.Validate(loader.Context); err != nil {
			specErr = fmt.Errorf("openapi.json is not a valid OpenAPI document: %w", err)
			return
		}
		router, err := legacy.NewRouter(doc)
		if err != nil {
			specErr = fmt.Errorf("route openapi.json: %w", err)
			return
		}
		schemas := doc.Components.Schemas
		specVal = &spec{doc: doc, router: router, errors: &openapi3.Schema{AnyOf: openapi3.SchemaRefs{
			schemas["FieldErrors"], schemas["Detail"], schemas["AuthError"],
		}}}
	})
	return specVal, specErr
}

// validationOptions: security is the server's business (tested elsewhere), undocumented status
// codes are errors, and every schema error of a body is reported, not just the first.
var validationOptions = &openapi3filter.Options{
	AuthenticationFunc:    openapi3filter.NoopAuthenticationFunc,
	IncludeResponseStatus: true,
	MultiError:            true,
	SkipSettingDefaults:   true,
}

// headOptions validate a HEAD response as its GET's, without the body.
var headOptions = func() openapi3filter.Options {
	o := *validationOptions
	o.ExcludeResponseBody = true
	return o
}()

// check validates one request/response pair against the OpenAPI document. The response is always
// validated: whatever a client sends, the answer must be one the document describes. The request
// is validated only when the server accepted it (2xx): tests send invalid requests on purpose, but
// a 2xx to a request the document calls invalid means the document is wrong (or the server is).
// With databaseTrouble (the test stopped the database or filled its disk on purpose) a 503 or 507
// is an expected answer, still checked against the document like any other.
func check(t testing.TB, req *http.Request, reqBody []byte, resp *Response, databaseTrouble bool) {
	t.Helper()
	s, err := loadSpec()
	if err != nil {
		t.Errorf("openapi: %v", err)
		return
	}
	what := fmt.Sprintf("%s %s → %d", req.Method, req.URL.RequestURI(), resp.Status)

	r := req.Clone(context.Background())
	if r.Method == http.MethodHead {
		r.Method = http.MethodGet // HEAD is GET without a body; kin-openapi skips its response body
	}
	route, params, ok := findRoute(s, r)
	if !ok {
		checkUndocumented(t, s, what, resp)
		return
	}
	record(req.Method, route.Path, resp.Status)

	if len(bytes.TrimSpace(reqBody)) == 0 {
		reqBody = nil // the server reads a blank body as none (an empty object), as DRF does
	}
	// kin-openapi may read the body through GetBody, so both must give the bytes to validate.
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(reqBody)), nil }
	r.Body, _ = r.GetBody()
	r.ContentLength = int64(len(reqBody))
	in := &openapi3filter.RequestValidationInput{Request: r, PathParams: params, Route: route, Options: validationOptions}
	if resp.Status >= 200 && resp.Status < 300 && !hugeNumbers(reqBody) {
		if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
			t.Errorf("openapi: %s: the server accepted a request the document calls invalid "+
				"(fix the document, or the handler if it should have refused it):\n%s\nrequest body: %s",
				what, brief(err), clip(reqBody))
		}
		in.Request.Body, _ = r.GetBody()
	}
	expected := route.Path == "/readyz" && resp.Status == http.StatusServiceUnavailable ||
		databaseTrouble && (resp.Status == http.StatusServiceUnavailable || resp.Status == http.StatusInsufficientStorage)
	if resp.Status >= 500 && !expected {
		t.Errorf("openapi: %s: server error (bad input must never be a 5xx): %s", what, clip(resp.Body))
	}
	opts := validationOptions
	if req.Method == http.MethodHead {
		opts = &headOptions // the status and headers of the GET, without its body
	}
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in,
		Status:                 resp.Status,
		Header:                 resp.Header,
		Body:                   io.NopCloser(bytes.NewReader(resp.Body)),
		Options:                opts,
	}
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		t.Errorf("openapi: %s: the response does not match the document:\n%s\nresponse body: %s",
			what, brief(err), clip(resp.Body))
		return
	}
	// kin-openapi does not check that a response documented without content has none (204).
	if ref := route.Operation.Responses.Status(resp.Status); ref != nil && ref.Value != nil &&
		len(ref.Value.Content) == 0 && len(resp.Body) > 0 && req.Method != http.MethodHead {
		t.Errorf("openapi: %s: the document says this response has no body, got %s", what, clip(resp.Body))
	}
}

// findRoute maps the request to a documented operation. The document lists the canonical paths
// of API.md (with the trailing slash under /api/, without it for /healthz); the server answers
// both forms, so the other form is tried when the first is not documented.
func findRoute(s *spec, r *http.Request) (*routers.Route, map[string]string, bool) {
	if route, params, ok := match(s, r); ok {
		return route, params, true
	}
	alt := *r
	u := *r.URL
	alt.URL = &u
	if p := u.Path; strings.HasSuffix(p, "/") && p != "/" {
		u.Path = strings.TrimSuffix(p, "/")
	} else {
		u.Path = p + "/"
	}
	u.RawPath = ""
	return match(s, &alt)
}

// match is the router's answer, except that a path parameter must not be empty: the legacy router
// matches DELETE /api/doctors/ to /api/doctors/{id}/ with id "", which the server routes nowhere.
func match(s *spec, r *http.Request) (*routers.Route, map[string]string, bool) {
	route, params, err := s.router.FindRoute(r)
	if err != nil {
		return nil, nil, false
	}
	for _, v := range params {
		if v == "" {
			return nil, nil, false
		}
	}
	return route, params, true
}

// checkUndocumented handles a request the document has no operation for: unknown paths and
// methods a path does not offer. Only a DRF error (404, 405, 401...) is an acceptable answer;
// anything else means the server has a route the document lacks.
func checkUndocumented(t testing.TB, s *spec, what string, resp *Response) {
	t.Helper()
	if resp.Status < 400 || resp.Status >= 500 {
		t.Errorf("openapi: %s: the document has no such operation, yet the server answered %d "+
			"(document the route in app/api/openapi.json)", what, resp.Status)
		return
	}
	var v any
	if err := json.Unmarshal(resp.Body, &v); err != nil {
		t.Errorf("openapi: %s: error response is not JSON: %s", what, clip(resp.Body))
		return
	}
	if err := s.errors.VisitJSON(v, openapi3.EnableJSONSchema2020()); err != nil {
		t.Errorf("openapi: %s: error response is not a DRF error body: %v\nresponse body: %s", what, err, clip(resp.Body))
	}
}

func record(method, path string, status int) {
	exercisedMu.Lock()
	exercised[method+" "+path]++
	if status >= 200 && status < 300 {
		succeeded[method+" "+path]++
	}
	exercisedMu.Unlock()
}

// Exercised returns the documented operations ("GET /api/doctors/{id}/") that requests made
// through Env have reached so far in this test binary, with the number of requests each.
func Exercised() map[string]int {
	exercisedMu.Lock()
	defer exercisedMu.Unlock()
	out := make(map[string]int, len(exercised))
	for k, v := range exercised {
		out[k] = v
	}
	return out
}

// CheckCoverage is for a package's TestMain, after the tests ran with exit code code: on a full,
// passing run (no -run or -skip filter) it fails when a documented operation was never requested
// through Env, and lists the operations whose success response was never validated.
func CheckCoverage(code int) int {
	if code != 0 || flagSet("test.run") || flagSet("test.skip") {
		return code
	}
	ops, err := Operations()
	if err != nil {
		fmt.Println("openapi coverage:", err)
		return 1
	}
	exercisedMu.Lock()
	defer exercisedMu.Unlock()
	var missing, noSuccess []string
	for _, op := range ops {
		method, _, _ := strings.Cut(op, " ")
		switch {
		case exercised[op] == 0 && !(method == http.MethodGet && exercised["HEAD"+op[len(method):]] > 0):
			missing = append(missing, op)
		case succeeded[op] == 0:
			noSuccess = append(noSuccess, op)
		}
	}
	requests := 0
	for _, n := range exercised {
		requests += n
	}
	fmt.Printf("openapi coverage: %d of %d documented operations requested, %d with a validated success response (%d requests checked)\n",
		len(ops)-len(missing), len(ops), len(ops)-len(missing)-len(noSuccess), requests)
	if len(noSuccess) > 0 {
		fmt.Printf("openapi coverage: no success response seen for: %s\n", strings.Join(noSuccess, ", "))
	}
	if len(missing) > 0 {
		fmt.Printf("FAIL: openapi coverage: never requested (add a test, or remove the operation): %s\n", strings.Join(missing, ", "))
		return 1
	}
	return 0
}

// flagSet reports whether the go test flag name was given a non-empty value.
func flagSet(name string) bool {
	f := flag.Lookup(name)
	return f != nil && f.Value.String() != ""
}

// Operations returns every operation of the document as "METHOD /path", sorted.
func Operations() ([]string, error) {
	s, err := loadSpec()
	if err != nil {
		return nil, err
	}
	var ops []string
	for path, item := range s.doc.Paths.Map() {
		for method := range item.Operations() {
			ops = append(ops, method+" "+path)
		}
	}
	sort.Strings(ops)
	return ops, nil
}

// Routes builds the server as New does, without listening, and returns its routes (middleware
// excluded), so a test can compare them with the document.
func Routes(t testing.TB) []fiber.Route {
	t.Helper()
	cfg := Config(t)
	pool := dbtest.Pool(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	app := server.New(server.Options{Config: cfg, Pool: pool, Auth: newAuth(t, cfg, pool, log), Log: log})
	return app.GetRoutes(true)
}

// brief drops the "Schema:" and "Value:" dumps from kin-openapi's errors: the schema is in
// openapi.json and the body is printed after the error.
func brief(err error) string {
	var out []string
	skip := -1 // indentation of the dump being skipped, or -1
	for _, line := range strings.Split(err.Error(), "\n") {
		indent := len(line) - len(strings.TrimLeft(line, " \t"))
		if skip >= 0 && (indent > skip || strings.TrimSpace(line) == "") {
			continue
		}
		skip = -1
		if t := strings.TrimSpace(line); t == "Schema:" || t == "Value:" {
			skip = indent
			continue
		}
		out = append(out, line)
	}
	return strings.Join(out, "\n")
}

// hugeNumbers reports whether a JSON body holds a number beyond float64's range (fuzzers send
// 1e999999999): kin-openapi cannot decode those, so such a request is not validated. Its response
// still is.
func hugeNumbers(body []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	for {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		if n, ok := tok.(json.Number); ok {
			if _, err := strconv.ParseFloat(n.String(), 64); err != nil {
				return true
			}
		}
	}
}

// clip shortens a body for an error message.
func clip(b []byte) string {
	const max = 2000
	if len(b) > max {
		return fmt.Sprintf("%s… (%d bytes)", b[:max], len(b))
	}
	return string(b)
}
