package api_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"healthcare/app/api/apitest"
)

// DRF's Allow values, as the transcripts record them.
const (
	allowList     = "GET, POST, HEAD, OPTIONS"
	allowInstance = "GET, PUT, PATCH, DELETE, HEAD, OPTIONS"
	allowReadOnly = "GET, HEAD, OPTIONS"
	allowPost     = "POST, OPTIONS"
)

// TestDRFDispatch: every API view answers as a DRF view does — the Allow header on every response
// (success, 400, 401, 404, 405), authentication before the method check (a wrong method without a
// token is 401, with one 405), OPTIONS answered with metadata.
func TestDRFDispatch(t *testing.T) {
	t.Parallel()
	e := apitest.New(t)
	alice, bob := e.User("alice"), e.User("bob")
	doctor := e.Post("/api/doctors/", alice, map[string]any{"name": "Dr A", "specialization": "GP", "contact_info": "a@example.org"})
	patient := e.Post("/api/patients/", alice, map[string]any{"name": "P", "age": 40, "gender": "F", "address": "Road 1", "phone_number": "555"})
	var d, p struct{ ID int64 }
	doctor.Decode(t, &d)
	patient.Decode(t, &p)
	mapping := e.Post("/api/mappings/", alice, map[string]any{"patient": p.ID, "doctor": d.ID})
	var m struct{ ID int64 }
	mapping.Decode(t, &m)

	cases := []struct {
		method, path, token string
		body                any
		status              int
		allow               string
		detail              string // expected "detail", when not empty
	}{
		// The transcripts' cases.
		{"GET", "/api/auth/register/", "", nil, 405, allowPost, `Method "GET" not allowed.`},
		{"GET", "/api/auth/login/", "", nil, 405, allowPost, `Method "GET" not allowed.`},
		{"POST", fmt.Sprintf("/api/patients/%d/doctors/", p.ID), alice, map[string]any{}, 405, allowReadOnly, `Method "POST" not allowed.`},
		{"POST", "/api/auth/login/", "", map[string]any{"username": "alice", "password": "wrong-password"}, 401, allowPost, "No active account found with the given credentials"},
		{"POST", "/api/auth/register/", "", map[string]any{}, 400, allowPost, ""},
		// Successes carry it too.
		{"GET", "/api/doctors/", alice, nil, 200, allowList, ""},
		{"HEAD", "/api/doctors/", alice, nil, 200, allowList, ""},
		{"GET", fmt.Sprintf("/api/doctors/%d/", d.ID), alice, nil, 200, allowInstance, ""},
		{"GET", fmt.Sprintf("/api/patients/%d", p.ID), alice, nil, 200, allowInstance, ""},
		{"GET", fmt.Sprintf("/api/mappings/%d/", m.ID), alice, nil, 200, allowInstance, ""},
		{"GET", "/api/mappings", alice, nil, 200, allowList, ""},
		{"GET", "/api/auth/me/", alice, nil, 200, allowReadOnly, ""},
		{"GET", "/api/", alice, nil, 200, allowReadOnly, ""},
		// 404 for what is not yours, with the view's Allow.
		{"GET", fmt.Sprintf("/api/patients/%d/", p.ID), bob, nil, 404, allowInstance, "Not found."},
		// Authentication first: no token is 401 whatever the method, as in DRF.
		{"DELETE", "/api/doctors/", "", nil, 401, allowList, "Authentication credentials were not provided."},
		{"POST", fmt.Sprintf("/api/patients/%d/doctors", p.ID), "", map[string]any{}, 401, allowReadOnly, "Authentication credentials were not provided."},
		{"POST", "/api/auth/me/", "", map[string]any{}, 401, allowReadOnly, "Authentication credentials were not provided."},
		{"PUT", "/api/mappings/", "not-a-token", map[string]any{}, 401, allowList, "Given token not valid for any token type"},
		// ...and with a token, the method check.
		{"DELETE", "/api/doctors/", alice, nil, 405, allowList, `Method "DELETE" not allowed.`},
		{"POST", fmt.Sprintf("/api/mappings/%d", m.ID), alice, map[string]any{}, 405, allowInstance, `Method "POST" not allowed.`},
		{"TRACE", "/api/patients/", alice, nil, 405, allowList, `Method "TRACE" not allowed.`},
		{"PATCH", "/api/auth/logout/", "", map[string]any{}, 405, allowPost, `Method "PATCH" not allowed.`},
	}
	for _, c := range cases {
		t.Run(c.method+" "+c.path, func(t *testing.T) {
			r := e.Do(apitest.Request{Method: c.method, Path: c.path, Token: c.token, Body: c.body})
			if r.Status != c.status {
				t.Fatalf("status %d, want %d: %s", r.Status, c.status, r.Body)
			}
			if got := r.Header.Get("Allow"); got != c.allow {
				t.Errorf("Allow %q, want %q", got, c.allow)
			}
			if c.detail != "" {
				var body struct{ Detail string }
				r.Decode(t, &body)
				if body.Detail != c.detail {
					t.Errorf("detail %q, want %q", body.Detail, c.detail)
				}
			}
		})
	}
}

// TestOptionsMetadata: OPTIONS answers DRF's SimpleMetadata — name, renders, parses and the
// writable fields of POST (lists) or PUT (instances), in serializer order — and needs a token on a
// protected view, as in DRF.
func TestOptionsMetadata(t *testing.T) {
	t.Parallel()
	e := apitest.New(t)
	alice := e.User("alice")
	opts := func(path, token string) *apitest.Response {
		t.Helper()
		return e.Do(apitest.Request{Method: http.MethodOptions, Path: path, Token: token})
	}

	if r := opts("/api/doctors/", ""); r.Status != 401 || r.Header.Get("Allow") != allowList {
		t.Errorf("OPTIONS /api/doctors/ without a token: %d (Allow %q) %s", r.Status, r.Header.Get("Allow"), r.Body)
	}

	type fieldInfo struct {
		Type     string
		Required bool
		ReadOnly bool `json:"read_only"`
		Label    string
	}
	cases := []struct {
		path, token, name, action string
		fields                    []string // in order
	}{
		{"/api/doctors/", alice, "Doctor List", "POST", []string{"id", "name", "specialization", "contact_info", "created_at", "updated_at"}},
		{"/api/doctors/1/", alice, "Doctor Instance", "PUT", []string{"id", "name", "specialization", "contact_info", "created_at", "updated_at"}},
		{"/api/patients", alice, "Patient List", "POST", []string{"id", "managed_by", "name", "age", "gender", "address", "phone_number", "created_at", "updated_at"}},
		{"/api/mappings/", alice, "Mapping List", "POST", []string{"id", "patient", "doctor", "patient_name", "doctor_name", "assigned_at"}},
		{"/api/auth/register/", "", "Register", "POST", []string{"username", "email", "password", "password2"}},
		{"/api/auth/login/", "", "Token Obtain Pair", "POST", []string{"username", "password"}},
		{"/api/patients/1/", alice, "Patient Instance", "PUT", []string{"id", "managed_by", "name", "age", "gender", "address", "phone_number", "created_at", "updated_at"}},
		{"/api/mappings/1/", alice, "Mapping Instance", "PUT", []string{"id", "patient", "doctor", "patient_name", "doctor_name", "assigned_at"}},
		{"/api/auth/login/refresh/", "", "Token Refresh", "POST", []string{"refresh", "access"}},
		{"/api/auth/logout/", "", "Logout", "POST", []string{"refresh"}},
		{"/api/patients/1/doctors/", alice, "Patient Doctors", "", nil},
		{"/api/auth/me/", alice, "Me", "", nil},
		{"/api/", alice, "Api Root", "", nil},
	}
	for _, c := range cases {
		t.Run(c.path, func(t *testing.T) {
			r := opts(c.path, c.token)
			if r.Status != 200 {
				t.Fatalf("status %d: %s", r.Status, r.Body)
			}
			var body struct {
				Name    string
				Renders []string
				Parses  []string
				Actions map[string]map[string]fieldInfo
			}
			r.Decode(t, &body)
			if body.Name != c.name || len(body.Renders) == 0 || len(body.Parses) == 0 {
				t.Errorf("metadata %s", r.Body)
			}
			if c.action == "" {
				if body.Actions != nil {
					t.Errorf("a read-only view shows actions: %s", r.Body)
				}
				return
			}
			fields := body.Actions[c.action]
			if len(fields) != len(c.fields) {
				t.Fatalf("%s fields: %s", c.action, r.Body)
			}
			// The fields appear in serializer order, as DRF lists them.
			at := -1
			for _, f := range c.fields {
				i := strings.Index(string(r.Body), `"`+f+`":{`)
				if i < at {
					t.Errorf("field %s out of order: %s", f, r.Body)
				}
				at = i
				if info := fields[f]; info.Type == "" || info.Label == "" {
					t.Errorf("field %s: %+v", f, info)
				}
			}
			if id, ok := fields["id"]; ok && (!id.ReadOnly || id.Required) {
				t.Errorf("id must be read-only: %+v", id)
			}
		})
	}
}
