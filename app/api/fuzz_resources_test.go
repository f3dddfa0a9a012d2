package api_test

import (
	"fmt"
	"net/http"
	"testing"

	"healthcare/app/api/apitest"
)

// The fuzz tests send arbitrary bytes as the JSON body of each resource's writes. Whatever comes
// in, the answer is a JSON 2xx/4xx, never a 5xx (and it matches the OpenAPI document, which Env
// checks). `go test` runs the seeds; `go test -fuzz FuzzDoctorBody ./app/api/` explores.

// resFuzzSeeds are bodies every resource fuzz test starts from.
var resFuzzSeeds = []string{
	``, `{}`, `[]`, `null`, `"x"`, `42`, `{"a":`, `{} {}`, "\xff\xfe", `{"\u0000": "\u0000"}`,
	`{"name": null}`, `{"name": {"a": [1, {"b": null}]}}`, `{"name": 1e999999999}`, `{"id": 1, "created_at": "x"}`,
}

// fuzzBody runs the fuzz target: each input is sent to every (method, url) in targets.
func fuzzBody(f *testing.F, seeds []string, setup func(fx *resFixture) []string) {
	for _, s := range append(resFuzzSeeds, seeds...) {
		f.Add([]byte(s))
	}
	fx := newResFixture(f, "alice", "bob")
	targets := setup(fx)
	f.Fuzz(func(t *testing.T, body []byte) {
		fx.env.T = t // fuzz inputs run one at a time in a process
		for _, target := range targets {
			var method, url string
			fmt.Sscan(target, &method, &url)
			r := fx.env.Do(apitest.Request{Method: method, Path: fx.vars.expand(url), Token: fx.tokens["alice"], Body: body})
			resCheckResponse(t, method, r)
			if r.Status >= 300 && r.Status != http.StatusNotFound && (r.Status < 400 || r.Status > 415) {
				t.Errorf("%s %s: unexpected status %d: %s", method, url, r.Status, r.Body)
			}
		}
	})
}

func FuzzDoctorBody(f *testing.F) {
	fuzzBody(f, []string{
		`{"name": "Alice Wonderland", "specialization": "Cardiology", "contact_info": "alice@wonder.land"}`,
		`{"name": "", "specialization": "", "contact_info": ""}`,
		`{"name": 123, "specialization": ["a"], "contact_info": null}`,
		`{"name": "a\u0000", "specialization": "  ", "contact_info": "x"}`,
	}, func(fx *resFixture) []string {
		fx.vars["d"] = fmt.Sprint(fx.create(fx.env.T, "/api/doctors/", "alice", `{"name": "A", "specialization": "B", "contact_info": "fuzz@x"}`))
		return []string{"POST /api/doctors/", "PUT /api/doctors/{{d}}/", "PATCH /api/doctors/{{d}}"}
	})
}

func FuzzPatientBody(f *testing.F) {
	fuzzBody(f, []string{
		`{"name": "John Doe", "age": 35, "gender": "M", "address": "123 Main St", "phone_number": "555-0101"}`,
		`{"name": "X", "age": -1, "gender": "X", "address": "a", "phone_number": "1234567890123456"}`,
		`{"name": "X", "age": "abc", "gender": "M", "address": "", "phone_number": "1"}`,
		`{"name": "X", "age": 2147483648, "gender": "M", "address": "a", "phone_number": "2"}`,
		`{"age": 1e3, "gender": "O", "managed_by": "bob"}`,
		`{"age": "0x10"}`, `{"age": 3.0}`, `{"age": -0}`,
	}, func(fx *resFixture) []string {
		fx.vars["p"] = fmt.Sprint(fx.create(fx.env.T, "/api/patients/", "alice",
			`{"name": "P", "age": 1, "gender": "F", "address": "a", "phone_number": "fuzz 1"}`))
		fx.vars["q"] = fmt.Sprint(fx.create(fx.env.T, "/api/patients/", "bob",
			`{"name": "Q", "age": 1, "gender": "F", "address": "a", "phone_number": "fuzz 1"}`))
		return []string{"POST /api/patients/", "PUT /api/patients/{{p}}/", "PATCH /api/patients/{{p}}/", "PATCH /api/patients/{{q}}/"}
	})
}

func FuzzMappingBody(f *testing.F) {
	fuzzBody(f, []string{
		`{"patient": 1, "doctor": 1}`, `{"patient": "1", "doctor": "2"}`, `{"patient": 9999, "doctor": 9999}`,
		`{"patient": "abc", "doctor": {"id": 1}}`, `{"patient": 99999999999999999999, "doctor": -1}`,
		`{"patient": 1.5, "doctor": true}`, `{"patient": "1e3", "doctor": " 2 "}`, `{"patient": 2}`,
	}, func(fx *resFixture) []string {
		fx.create(fx.env.T, "/api/doctors/", "alice", `{"name": "A", "specialization": "B", "contact_info": "fuzz1@x"}`)
		fx.create(fx.env.T, "/api/doctors/", "alice", `{"name": "B", "specialization": "B", "contact_info": "fuzz2@x"}`)
		fx.create(fx.env.T, "/api/patients/", "alice", `{"name": "P", "age": 1, "gender": "F", "address": "a", "phone_number": "1"}`)
		fx.create(fx.env.T, "/api/patients/", "bob", `{"name": "Q", "age": 1, "gender": "F", "address": "a", "phone_number": "1"}`)
		fx.vars["m"] = fmt.Sprint(fx.create(fx.env.T, "/api/mappings/", "alice", `{"patient": 1, "doctor": 1}`))
		return []string{"POST /api/mappings/", "PUT /api/mappings/{{m}}/", "PATCH /api/mappings/{{m}}"}
	})
}
